from kalman_enkf.cli import main

raise SystemExit(main())
