"""Code-location load time against a bare `import dagster`, measured in the same run.

Each sample is the CPU time of a fresh interpreter (what a code server or run worker pays);
samples of the two commands alternate so machine noise hits both alike. Both bytecode
settings are measured: `PYTHONDONTWRITEBYTECODE=1` (set on CI and these machines: Python
then never writes `.pyc` files, so modules without precompiled bytecode are compiled
from source on every import; `make install` precompiles the project) and unset.
Goal (issue 17): at most 1.3x in both.

    .venv/bin/python bench/bench_load_time.py [--samples 9]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from resources.lazy_imports import HEAVY_LIBRARIES

REPO_ROOT = Path(__file__).resolve().parents[1]
BASELINE = "import dagster"
CODE_LOCATION = "import platform_assets.definitions"
GOAL = 1.30
PACKAGES = ("platform_assets", "resources", "sensors")


def sample(statement: str, env: dict[str, str]) -> float:
    """CPU seconds (user + system) of a fresh interpreter running `statement`: unlike wall
    time, it does not grow when other processes compete for the two cores."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-W", "ignore", "-c", statement], check=True, env=env, cwd=REPO_ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_modules_loaded(env: dict[str, str]) -> list[str]:
    heavy = HEAVY_LIBRARIES
    probe = f"import sys, platform_assets.definitions; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", probe],
        check=True,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return [m for m in out.split(",") if m]


def modules_without_bytecode() -> list[str]:
    """Project modules whose `.pyc` is missing or older than the source: with
    PYTHONDONTWRITEBYTECODE=1 they compile from source on every import (`make compile`)."""
    missing = []
    for package in PACKAGES:
        for source in sorted((REPO_ROOT / package).rglob("*.py")):
            compiled = Path(importlib.util.cache_from_source(str(source)))
            if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
                missing.append(str(source.relative_to(REPO_ROOT)))
    return missing


def measure(env: dict[str, str], samples: int) -> tuple[float, float]:
    sample(BASELINE, env), sample(CODE_LOCATION, env)  # warm the OS file cache (and bytecode, if written)
    baseline, location = [], []
    for _ in range(samples):
        baseline.append(sample(BASELINE, env))
        location.append(sample(CODE_LOCATION, env))
    return statistics.median(baseline), statistics.median(location)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=9)
    args = parser.parse_args()
    env = {**os.environ, "PLATFORM_HOME": os.environ.get("PLATFORM_HOME", "/tmp/platform-bench-home")}
    settings = {
        "PYTHONDONTWRITEBYTECODE=1": {**env, "PYTHONDONTWRITEBYTECODE": "1"},
        "PYTHONDONTWRITEBYTECODE unset": {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"},
    }
    stale = modules_without_bytecode()
    print(
        f"project modules without current bytecode: {len(stale)}"
        + (f" (run `make compile`): {stale[:5]}" if stale else "")
    )
    worst = 0.0
    for name, environment in settings.items():
        bare, location = measure(environment, args.samples)
        ratio = location / bare
        worst = max(worst, ratio)
        print(f"{name}:")
        print(f"  import dagster                      median {bare:.3f} CPU-s over {args.samples} samples")
        print(f"  import platform_assets.definitions  median {location:.3f} CPU-s")
        print(
            f"  load-time ratio {ratio:.2f}x (goal <= {GOAL:.2f}x; {GOAL - ratio:+.2f} to the limit, "
            f"project code {1000 * (location - bare):.0f} ms on top of Dagster)"
        )
    print(f"worst ratio {worst:.2f}x ({'within' if worst <= GOAL else 'OVER'} the {GOAL:.2f}x goal)")
    print(f"heavy modules imported at load: {heavy_modules_loaded(env) or 'none'}")


if __name__ == "__main__":
    main()
