"""Benchmark: kalman-enkf's analysis step vs filterpy's EnsembleKalmanFilter.update.

Both get the same prior ensemble, observations and noise level on each problem size
(state n, observations m, members N). Prints, per size, the median time of each (runs
interleaved, so background load hits both alike) and the speed-up ratio, and the achieved
GFLOP/s of the analysis (best run) against numpy's own matrix multiply (best run) measured
in the same process: the practical ceiling on this machine.

    .venv/bin/python bench/bench_enkf.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from filterpy.kalman import EnsembleKalmanFilter

from kalman_enkf.analysis import Localization, enkf_analysis

SIZES = [(200, 50, 50), (1000, 200, 100), (2000, 500, 200)]  # (n state, m obs, N members)


def timings(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def paired_timings(first, second, repeat: int) -> tuple[list[float], list[float]]:
    """Alternate the two so that load from other processes hits both alike."""
    a, b = [], []
    for _ in range(repeat):
        a += timings(first, 1)
        b += timings(second, 1)
    return a, b


def analysis_flops(n: int, m: int, members: int) -> float:
    """Floating-point operations of enkf_analysis without localization (the cheaper of its
    ensemble-space and state-space update paths, as the code chooses)."""
    common = 2 * members * m * m + 2 * m**3 / 3 + 2 * m * m * members
    return common + min(2 * members**2 * (m + n), 4 * n * m * members)


def matmul_gflops(size: int, repeat: int) -> float:
    a = np.random.default_rng(0).standard_normal((size, size))
    b = np.random.default_rng(1).standard_normal((size, size))
    return 2 * size**3 / min(timings(lambda: a @ b, repeat)) / 1e9  # best case: the ceiling


def run(repeat: int) -> None:
    peak = matmul_gflops(1024, repeat)
    print(f"numpy matmul 1024x1024: {peak:.1f} GFLOP/s (baseline)")
    header = f"{'n':>6} {'m':>5} {'N':>5} | {'filterpy s':>10} {'ours s':>9} {'ratio':>7} | {'GFLOP/s':>8} {'% matmul':>8} | {'localized s':>11}"
    print(header)
    print("-" * len(header))
    for n, m, members in SIZES:
        rng = np.random.default_rng(42)
        prior = rng.standard_normal((members, n))
        obs_index = np.linspace(0, n - 1, m).astype(np.intp)
        observations = rng.standard_normal(m)
        error_std = np.full(m, 0.5)

        positions = np.arange(n, dtype=float)
        localization = Localization.for_positions(positions, positions[obs_index], radius=n / 10)
        localized = statistics.median(timings(
            lambda: enkf_analysis(
                prior, observations, obs_index, error_std, np.random.default_rng(), localization=localization
            ),
            repeat,
        ))

        enkf = EnsembleKalmanFilter(
            x=np.zeros(n), P=np.eye(n), dim_z=m, dt=1.0, N=members,
            hx=lambda x: x[obs_index], fx=lambda x, dt: x,
        )
        enkf.R = np.diag(error_std**2)

        def filterpy_update():
            enkf.sigmas = prior.copy()
            enkf.x = prior.mean(axis=0)
            enkf.P = np.eye(n)
            enkf.update(observations)

        theirs_t, ours_t = paired_timings(
            filterpy_update,
            lambda: enkf_analysis(prior, observations, obs_index, error_std, np.random.default_rng()),
            repeat,
        )
        theirs, ours = statistics.median(theirs_t), statistics.median(ours_t)
        gflops = analysis_flops(n, m, members) / min(ours_t) / 1e9  # best case, like the baseline
        print(
            f"{n:>6} {m:>5} {members:>5} | {theirs:>10.4f} {ours:>9.4f} {theirs / ours:>6.1f}x"
            f" | {gflops:>8.2f} {100 * gflops / peak:>7.1f}% | {localized:>11.4f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    run(parser.parse_args().repeat)
