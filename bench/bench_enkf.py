"""Benchmark: kalman-enkf's analysis step vs filterpy's EnsembleKalmanFilter.update, and its
achieved GFLOP/s against numpy's matrix multiply.

Both get the same prior ensemble, observations and noise level on each problem size
(state n, observations m, members N). Every repetition times, back to back, numpy's
1024x1024 matmul (the practical ceiling on this machine), filterpy and ours, so background
load (a shared 2-core machine) hits all three alike and each ratio is taken within one
repetition. Printed per size: median and [min-max] over the repetitions of the speed-up
ratio and of the fraction of matmul GFLOP/s reached.

    .venv/bin/python bench/bench_enkf.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from filterpy.kalman import EnsembleKalmanFilter

from kalman_enkf.analysis import Localization, enkf_analysis

SIZES = [(200, 50, 50), (1000, 200, 100), (2000, 500, 200)]  # (n state, m obs, N members)
MATMUL_SIZE = 1024


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def analysis_flops(n: int, m: int, members: int) -> float:
    """Floating-point operations of enkf_analysis without localization (the cheaper of its
    ensemble-space and state-space update paths, as the code chooses)."""
    common = 2 * members * m * m + 2 * m**3 / 3 + 2 * m * m * members
    return common + min(2 * members**2 * (m + n), 4 * n * m * members)


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} [{format(min(values), fmt)}-{format(max(values), fmt)}]"


def bench_size(n: int, m: int, members: int, repeat: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(42)
    prior = rng.standard_normal((members, n))
    obs_index = np.linspace(0, n - 1, m).astype(np.intp)
    observations = rng.standard_normal(m)
    error_std = np.full(m, 0.5)
    positions = np.arange(n, dtype=float)
    localization = Localization.for_positions(positions, positions[obs_index], radius=n / 10)
    a = np.random.default_rng(0).standard_normal((MATMUL_SIZE, MATMUL_SIZE))
    b = np.random.default_rng(1).standard_normal((MATMUL_SIZE, MATMUL_SIZE))

    enkf = EnsembleKalmanFilter(
        x=np.zeros(n), P=np.eye(n), dim_z=m, dt=1.0, N=members, hx=lambda x: x[obs_index], fx=lambda x, dt: x
    )
    enkf.R = np.diag(error_std**2)

    def filterpy_update():
        enkf.sigmas = prior.copy()
        enkf.x = prior.mean(axis=0)
        enkf.P = np.eye(n)
        enkf.update(observations)

    def ours():
        enkf_analysis(prior, observations, obs_index, error_std, np.random.default_rng())

    def localized():
        enkf_analysis(prior, observations, obs_index, error_std, np.random.default_rng(), localization=localization)

    ours()  # warm-up (first-call allocations)
    results: dict[str, list[float]] = {
        "ratio": [],
        "gflops": [],
        "matmul": [],
        "share": [],
        "theirs": [],
        "ours": [],
        "localized": [],
    }
    for _ in range(repeat):
        matmul_t = seconds(lambda: a @ b)
        theirs_t, ours_t, localized_t = seconds(filterpy_update), seconds(ours), seconds(localized)
        matmul = 2 * MATMUL_SIZE**3 / matmul_t / 1e9
        gflops = analysis_flops(n, m, members) / ours_t / 1e9
        results["ratio"].append(theirs_t / ours_t)
        results["gflops"].append(gflops)
        results["matmul"].append(matmul)
        results["share"].append(100 * gflops / matmul)
        results["theirs"].append(theirs_t)
        results["ours"].append(ours_t)
        results["localized"].append(localized_t)
    return results


def run(repeat: int) -> None:
    print(f"median [min-max] over {repeat} repetitions; matmul {MATMUL_SIZE}x{MATMUL_SIZE} timed in each repetition")
    header = (
        f"{'n':>5} {'m':>4} {'N':>4} | {'filterpy s':>10} {'ours s':>8} {'ratio (x)':>20} | "
        f"{'matmul GFLOP/s':>20} {'ours GFLOP/s':>20} {'% of matmul':>20} | {'localized s':>11}"
    )
    print(header)
    print("-" * len(header))
    for n, m, members in SIZES:
        r = bench_size(n, m, members, repeat)
        print(
            f"{n:>5} {m:>4} {members:>4} | {statistics.median(r['theirs']):>10.4f} {statistics.median(r['ours']):>8.4f}"
            f" {spread(r['ratio'], '.1f'):>20} | {spread(r['matmul'], '.1f'):>20} {spread(r['gflops'], '.2f'):>20}"
            f" {spread(r['share'], '.1f'):>20} | {statistics.median(r['localized']):>11.4f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    run(parser.parse_args().repeat)
