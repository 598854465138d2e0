from kalman_enkf.cli import run

run()
