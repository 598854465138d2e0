"""Benchmark: kalman-enkf's analysis step against filterpy (the baseline) and against this
machine's matrix-multiply peak (the limit).

    .venv/bin/python bench/bench_enkf.py [--repeat 9] [--threads N]

The analysis runs as the program runs it: BLAS threads pinned by `kalman_enkf.blas.pin_threads`
(the CPUs this process gets, or ``--threads`` / ``KALMAN_ENKF_THREADS``), one BLAS library in
the process (numpy's; checked and printed). filterpy imports scipy, which brings a second
OpenBLAS, so filterpy runs in a helper process with the same thread count; the two
processes take turns, never overlap.

Each repetition times, back to back: filterpy's ``EnsembleKalmanFilter.update`` (helper
process, one call), the matmul peak (square GEMMs of ``--matmul-size`` filling 0.1 s, same
BLAS, same threads: the practical ceiling of this machine right now), our unlocalized
analysis and our localized one (mean of calls filling 20 ms), all on the same ensemble.
Background load on a shared machine then hits all alike, and every ratio is taken within
one repetition. Printed per size (n state, m
observations, N members), median [min-max] over repetitions:

  baseline  filterpy seconds / our seconds;
  limit     our GFLOP/s (flops of the path the analysis takes, `analysis_flops`) against the
            matmul peak: % of peak, and "x to peak" = how many times faster the analysis would
            be at the peak rate (1.0 = at the limit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from kalman_enkf.analysis import Localization, analysis_flops, enkf_analysis, ensemble_space
from kalman_enkf.blas import blas_summary, cholesky_available, pin_threads

SIZES = [(200, 50, 50), (1000, 200, 100), (2000, 500, 200)]  # (n state, m obs, N members)
GOAL_PEAK_SHARE = 50.0  # % of matmul peak at 1000/200/100 and above
GOAL_BASELINE_RATIO = 20.0  # x filterpy at every size


def problem(n: int, m: int, members: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    return {
        "prior": rng.standard_normal((members, n)),
        "obs_index": np.linspace(0, n - 1, m).astype(np.intp),
        "observations": rng.standard_normal(m),
        "error_std": np.full(m, 0.5),
    }


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def seconds_per_call(fn: Callable[[], object], budget: float = 0.02) -> float:
    """Mean seconds of back-to-back calls filling about ``budget`` seconds (at least one call):
    a 0.1 ms analysis timed once measures the scheduler, not the analysis."""
    calls = max(1, min(1000, int(budget / max(seconds(fn), 1e-6))))
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


# ---- filterpy, in its own process (scipy's OpenBLAS stays out of the measured one) -------
def filterpy_worker(threads: int) -> None:
    """Read "n m N" lines on stdin, answer each with the seconds of one filterpy update."""
    from filterpy.kalman import EnsembleKalmanFilter

    pin_threads(threads)
    filters = {}
    for line in sys.stdin:
        n, m, members = map(int, line.split())
        if (n, m, members) not in filters:
            p = problem(n, m, members)
            index = p["obs_index"]
            enkf = EnsembleKalmanFilter(
                x=np.zeros(n), P=np.eye(n), dim_z=m, dt=1.0, N=members, hx=lambda x, i=index: x[i], fx=lambda x, dt: x
            )
            enkf.R = np.diag(p["error_std"] ** 2)
            filters[(n, m, members)] = (enkf, p)
        enkf, p = filters[(n, m, members)]

        def update(enkf=enkf, p=p, n=n):
            enkf.sigmas = p["prior"].copy()
            enkf.x = p["prior"].mean(axis=0)
            enkf.P = np.eye(n)
            enkf.update(p["observations"])

        print(json.dumps(seconds(update)), flush=True)


class Filterpy:
    def __init__(self, threads: int):
        # OpenBLAS threads spin ~2^28 cycles (~0.1 s) after each call before they sleep: the
        # helper's would take the cores from the measured process right after its turn.
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--filterpy-worker", "--threads", str(threads)],
            env=os.environ | {"OPENBLAS_THREAD_TIMEOUT": "4"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def time(self, n: int, m: int, members: int) -> float:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{n} {m} {members}\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


# ---- measured process ---------------------------------------------------------------------
def matmul_peak(size: int) -> float:
    """GFLOP/s of square GEMMs of ``size`` (3 or more, as many as fill 0.1 s): what this BLAS
    reaches right now, with the threads the analysis has."""
    a = np.random.default_rng(0).standard_normal((size, size))
    b = np.random.default_rng(1).standard_normal((size, size))
    return 2 * size**3 / seconds_per_call(lambda: a @ b, budget=0.1) / 1e9


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} [{format(min(values), fmt)}-{format(max(values), fmt)}]"


def bench_size(size: tuple[int, int, int], repeat: int, matmul_size: int, filterpy: Filterpy) -> dict[str, list[float]]:
    n, m, members = size
    p = problem(n, m, members)
    args = (p["prior"], p["observations"], p["obs_index"], p["error_std"])
    positions = np.arange(n, dtype=float)
    localization = Localization.for_positions(positions, positions[p["obs_index"]], radius=n / 10)
    rng = np.random.default_rng(0)
    flops = analysis_flops(n, m, members)

    def ours():
        enkf_analysis(*args, rng)

    def localized():
        enkf_analysis(*args, rng, localization=localization)

    ours(), localized(), filterpy.time(*size)  # warm-up (first-call allocations, imports)
    r: dict[str, list[float]] = {k: [] for k in ("theirs", "ours", "localized", "peak", "gflops", "share", "to_peak")}
    for _ in range(repeat):
        r["theirs"].append(filterpy.time(*size))
        r["peak"].append(matmul_peak(matmul_size))
        r["ours"].append(seconds_per_call(ours))
        r["localized"].append(seconds_per_call(localized))
        gflops = flops / r["ours"][-1] / 1e9
        r["gflops"].append(gflops)
        r["share"].append(100 * gflops / r["peak"][-1])
        r["to_peak"].append(r["peak"][-1] / gflops)
    r["ratio"] = [t / o for t, o in zip(r["theirs"], r["ours"], strict=True)]
    return r


def run(repeat: int, threads: int | None, matmul_size: int) -> None:
    pools = pin_threads(threads)
    blas = [p for p in pools if p.get("user_api") == "blas"]
    threads = blas[0]["num_threads"] if blas else 1
    print(f"BLAS in the measured process: {blas_summary(pools)} ({len(blas)} library); filterpy in a helper process")
    print(f"Cholesky solve through numpy's LAPACK: {'yes' if cholesky_available() else 'no (LU fallback)'}")
    print(f"median [min-max] over {repeat} repetitions; peak = {matmul_size}^2 GEMMs in each repetition")
    header = (
        f"{'n':>5} {'m':>4} {'N':>4} {'space':>5} | {'filterpy s':>10} {'ours s':>8} {'x filterpy':>18} | "
        f"{'peak GFLOP/s':>18} {'ours GFLOP/s':>18} {'% of peak':>16} {'x to peak':>15} | {'localized s':>11}"
    )
    print(header)
    print("-" * len(header))
    filterpy = Filterpy(threads)
    results = {}
    try:
        for size in SIZES:
            n, m, members = size
            r = results[size] = bench_size(size, repeat, matmul_size, filterpy)
            print(
                f"{n:>5} {m:>4} {members:>4} {'N' if ensemble_space(members, m) else 'm':>5} | "
                f"{statistics.median(r['theirs']):>10.4f} {statistics.median(r['ours']):>8.5f} "
                f"{spread(r['ratio'], '.0f'):>18} | {spread(r['peak'], '.0f'):>18} {spread(r['gflops'], '.1f'):>18} "
                f"{spread(r['share'], '.0f'):>16} {spread(r['to_peak'], '.1f'):>15} | "
                f"{statistics.median(r['localized']):>11.5f}"
            )
    finally:
        filterpy.close()
    print("space: the system solved, N x N (ensemble) or m x m (observations); flops: kalman_enkf.analysis_flops")
    large = [s for s in SIZES if s[0] >= 1000]
    share = {s: statistics.median(results[s]["share"]) for s in large}
    ratio = {s: statistics.median(results[s]["ratio"]) for s in SIZES}
    verdict = "met" if min(share.values()) >= GOAL_PEAK_SHARE else "NOT met"
    print(f"goal >= {GOAL_PEAK_SHARE:.0f}% of peak at 1000/200/100 and above: {verdict} ({_sizes(share, '%')})")
    verdict = "met" if min(ratio.values()) >= GOAL_BASELINE_RATIO else "NOT met"
    print(f"goal >= {GOAL_BASELINE_RATIO:.0f}x filterpy at every size: {verdict} ({_sizes(ratio, 'x')})")


def _sizes(values: dict[tuple[int, int, int], float], unit: str) -> str:
    return ", ".join(f"{'/'.join(map(str, size))}: {value:.0f}{unit}" for size, value in values.items())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: the CPUs this process gets)")
    parser.add_argument("--matmul-size", type=int, default=1024)
    parser.add_argument("--filterpy-worker", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.filterpy_worker:
        filterpy_worker(options.threads)
    else:
        run(options.repeat, options.threads, options.matmul_size)
