"""The process's BLAS: its thread count, and Cholesky solves through numpy's own LAPACK.

Threads. A BLAS library starts one thread per CPU of the *machine*; a program that gets
fewer CPUs (an affinity mask, a Kubernetes CPU limit, other processes busy on the cores)
then runs more threads than it has cores, and on a busy 2-core machine two threads were
measured 20-50x slower than one. `pin_threads` sets every BLAS/OpenMP pool in the process to
the CPUs this process actually gets (threadpoolctl), unless told otherwise.

Solves. The innovation covariance is symmetric positive definite, so a Cholesky solve
(LAPACK ``dposv``: n^3/3 flops for the factor) replaces numpy's LU solve (2n^3/3). numpy
exposes no Cholesky *solve*; scipy does, but scipy's wheels bring a second OpenBLAS into the
process (two thread pools competing for the cores). `spd_solve` therefore calls ``dposv``
in the library numpy itself uses, found through threadpoolctl and bound with ctypes; where
that library cannot be bound it falls back to ``numpy.linalg.solve``, as it does for a
matrix that is not positive definite.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from kalman_enkf.config import InputError

THREADS_ENV = "KALMAN_ENKF_THREADS"
# Standard variables a user may already set for the BLAS; when one is set we leave it be.
STANDARD_THREAD_ENVS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# dposv's exported name in the builds numpy ships with (scipy-openblas: ILP64 with prefix and
# suffix) and in system BLAS/LAPACK libraries (Fortran names).
DPOSV_NAMES = ("scipy_dposv_64_", "dposv_64_", "scipy_dposv_", "dposv_", "dposv")


def cgroup_cpu_limit(root: Path = Path("/")) -> float | None:
    """CPUs granted by a cgroup CPU quota (a container's CPU limit), or None without one.

    cgroup v2: ``cpu.max`` ("<quota> <period>" or "max <period>") of this process's cgroup;
    cgroup v1: ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1: none). ``root`` is
    the filesystem root, for tests.
    """
    cgroup = root / "sys/fs/cgroup"
    candidates = [cgroup / "cpu.max"]  # what a container sees as its own cgroup
    try:
        for line in (root / "proc/self/cgroup").read_text().splitlines():
            hierarchy, _, own = line.split(":", 2)
            if hierarchy == "0" and own.strip("/"):
                candidates.insert(0, cgroup / own.strip("/") / "cpu.max")
    except (OSError, ValueError):
        pass
    for path in candidates:
        try:
            quota, period = path.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        except (OSError, ValueError):
            continue
    try:
        quota_us = int((cgroup / "cpu/cpu.cfs_quota_us").read_text())
        period_us = int((cgroup / "cpu/cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def available_cpus(load: float | None = None, quota: float | None = None) -> int:
    """CPUs this process actually gets (at least 1): its affinity mask, capped by a cgroup CPU
    quota (a container's CPU limit, which the kernel enforces); without a quota, capped by
    the CPUs the other processes leave idle (1-minute load average, of which this process
    is about 1). ``load`` and ``quota`` default to the system's (parameters for tests).

    The load cap is what keeps a busy shared machine usable: with other processes on every
    core, an OpenBLAS helper thread waits for a time slice at each call, and two threads were
    measured 20-50x slower than one (bench/bench_enkf.py)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_limit() if quota is None else quota
    if quota is not None:
        return max(1, min(cpus, math.floor(quota)))
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # not available on this platform
            return max(1, cpus)
    return max(1, min(cpus, round(cpus + 1 - load)))


def requested_threads(environ: dict[str, str] | None = None) -> int | None:
    """Threads to pin: ``KALMAN_ENKF_THREADS`` if set, None if a standard BLAS variable is set
    (the user chose; leave it), else `available_cpus`."""
    env = os.environ if environ is None else environ
    raw = env.get(THREADS_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise InputError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
        return int(raw)
    if any(env.get(name) for name in STANDARD_THREAD_ENVS):
        return None
    return available_cpus()


def pin_threads(threads: int | None = None) -> list[dict[str, Any]]:
    """Limit every BLAS/OpenMP thread pool in the process to ``threads`` (default:
    `requested_threads`); returns the pools as threadpoolctl describes them afterwards."""
    from threadpoolctl import threadpool_info, threadpool_limits

    threads = requested_threads() if threads is None else threads
    if threads is not None:
        threadpool_limits(limits=threads)
    return threadpool_info()


def blas_summary(pools: list[dict[str, Any]]) -> str:
    """One line naming every BLAS library loaded and its thread count, e.g. ``openblas 0.3.31 x2``."""
    blas = [p for p in pools if p.get("user_api") == "blas"]
    return ", ".join(f"{p['internal_api']} {p.get('version') or '?'} x{p['num_threads']}" for p in blas) or "none"


@cache
def _dposv() -> Any | None:
    """``dposv`` of the BLAS/LAPACK library numpy uses, checked on a small system; None if unavailable."""
    if sys.byteorder != "little":
        return None  # the int64 argument trick below relies on little-endian integers
    from threadpoolctl import threadpool_info

    numpy_libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    paths = [p["filepath"] for p in threadpool_info() if p.get("user_api") == "blas"]
    own = [path for path in paths if Path(path).resolve().parent == numpy_libs]
    if own:
        paths = own
    elif len(paths) != 1:
        return None  # several libraries and none is visibly numpy's: do not guess
    try:
        library = ctypes.CDLL(paths[0])
    except OSError:
        return None
    for name in DPOSV_NAMES:
        function = getattr(library, name, None)
        if function is not None:
            function.restype = None
            if _posv_works(function):
                return function
    return None


def _call_posv(function: Any, a: np.ndarray, b: np.ndarray) -> int:
    """dposv on Fortran-ordered ``a`` (n, n) and ``b`` (n, k), both overwritten; returns INFO.

    Integer arguments are 64-bit: an LP64 library reads their low 32 bits, which on a
    little-endian machine hold the same value, so one call works for both integer widths.
    """
    n, k = b.shape
    ints = np.array([n, k, 0], dtype=np.int64)  # N, NRHS, INFO (LDA = LDB = N)
    pointer = ints.ctypes.data
    function(
        ctypes.c_char_p(b"L"),
        ctypes.c_void_p(pointer),
        ctypes.c_void_p(pointer + 8),
        ctypes.c_void_p(a.ctypes.data),
        ctypes.c_void_p(pointer),
        ctypes.c_void_p(b.ctypes.data),
        ctypes.c_void_p(pointer),
        ctypes.c_void_p(pointer + 16),
    )
    return int(ints[2])


def _posv_works(function: Any) -> bool:
    a = np.array([[4.0, 2.0, 0.6], [2.0, 5.0, 1.0], [0.6, 1.0, 3.0]], order="F")
    b = np.asfortranarray(np.arange(6.0).reshape(3, 2))
    expected = np.linalg.solve(a, b)
    try:
        info = _call_posv(function, a.copy(order="F"), solution := b.copy(order="F"))
    except Exception:
        return False
    return info == 0 and np.allclose(solution, expected, rtol=1e-12, atol=1e-12)


def cholesky_available() -> bool:
    """Whether `spd_solve` can use a Cholesky solve in this process."""
    return _dposv() is not None


def spd_solve(matrix: np.ndarray, rows: np.ndarray, *, cholesky: bool = True) -> np.ndarray:
    """Solve for every row r of ``rows`` (k, n): x = matrix^-1 r, returned as rows (k, n).

    ``matrix`` (n, n) must be symmetric; when it is positive definite (and ``cholesky``) the
    solve is a Cholesky factorization in numpy's own LAPACK, otherwise an LU solve. Row
    layout is what makes this free of copies: a C-ordered (k, n) block is the Fortran
    (n, k) right-hand side LAPACK wants, and the solution comes back in the same layout.
    Neither argument is modified.
    """
    function = _dposv() if cholesky else None
    if function is not None:
        factor = np.array(matrix, dtype=np.float64, order="F")  # symmetric: C order == F order
        solution = np.array(rows, dtype=np.float64, order="C")
        if _call_posv(function, factor, solution.T) == 0:
            return solution
    return np.linalg.solve(matrix, np.asarray(rows, dtype=np.float64).T).T
