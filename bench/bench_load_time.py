"""Code-location load time against a bare `import dagster`, measured in the same run.

Each sample is the CPU time of a fresh interpreter (what a code server or run worker pays); samples of
the two commands alternate so machine noise hits both alike. Prints the median ratio.
Goal (issue 2): at most 1.3x.

    .venv/bin/python bench/bench_load_time.py [--samples 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BASELINE = "import dagster"
CODE_LOCATION = "import platform_assets.definitions"


def sample(statement: str, env: dict[str, str]) -> float:
    """CPU seconds (user + system) of a fresh interpreter running `statement`: unlike wall
    time, it does not grow when other processes compete for the two cores."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-W", "ignore", "-c", statement], check=True, env=env, cwd=REPO_ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


HEAVY = (
    "pyspark",
    "torch",
    "sentence_transformers",
    "distributed",
    "matplotlib",
    "sklearn",
    "numpy",
    "pandas",
    "pyarrow",
    "sqlalchemy",
    "httpx",
    "deltalake",
    "confluent_kafka",
)


def heavy_modules_loaded(env: dict[str, str]) -> list[str]:
    probe = f"import sys, platform_assets.definitions; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", probe],
        check=True,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return [m for m in out.split(",") if m]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "PLATFORM_HOME": os.environ.get("PLATFORM_HOME", "/tmp/platform-bench-home")}
    sample(BASELINE, env), sample(CODE_LOCATION, env)  # warm the OS file cache
    baseline, location = [], []
    for _ in range(args.samples):
        baseline.append(sample(BASELINE, env))
        location.append(sample(CODE_LOCATION, env))
    b, c = statistics.median(baseline), statistics.median(location)
    print(f"import dagster                     median {b:.3f} CPU-s over {args.samples} samples")
    print(f"import platform_assets.definitions median {c:.3f} CPU-s over {args.samples} samples")
    print(f"load-time ratio (code location / bare dagster): {c / b:.2f}x  (goal <= 1.30x)")
    print(f"heavy modules imported at load: {heavy_modules_loaded(env) or 'none'}")


if __name__ == "__main__":
    main()
