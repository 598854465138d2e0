"""The compiled kernel (numba): the integrators of model.py, member by member, and the
ensemble step fused with its per-step moments.

Why: the numpy integrator pays a dozen numpy calls per step for a few dozen flops per
member, and the per-step covariance ran through numpy's stacked matmul; both were bound by
call overhead, not arithmetic (bench/bench_propagation.py). Here one call integrates a whole
chunk for all steps and reduces each step to mean and M2 while the members' states are in
cache.

Same arithmetic as the numpy reference, operation by operation and in the same order (no
fast-math, so no reassociation and no fused multiply-add): trajectories are bit for bit those
of model.py. Only the moments differ in their last bits (another summation order than
numpy's reductions), which is why the kernel is part of a run's configuration.

numba is imported on first use, never at import: loading the code location must not pay for
it. The functions below are plain Python; `kernels()` compiles them (``nogil``, so Dask
thread workers run chunks in parallel) and caches the machine code on disk when it can
(``NUMBA_CACHE_DIR`` or next to this file).
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")


def accelerate(x, masses, g, acc):
    """acc (n, 3, K) = g sum_j m_j (r_j - r_i) / |r_j - r_i|^3 for positions x (n, 3, K).

    Members run along the last axis, so the inner loops are vectorized across members. Each
    pair once; body j gets the mirrored term, which is exactly the negation of what
    model.accelerations computes for it (same factors, same rounding); terms are added in
    increasing partner order, as the reference's sum over j."""
    n, members = x.shape[0], x.shape[2]
    for i in range(n):
        for c in range(3):
            for m in range(members):
                acc[i, c, m] = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            for m in range(members):
                dx = x[j, 0, m] - x[i, 0, m]
                dy = x[j, 1, m] - x[i, 1, m]
                dz = x[j, 2, m] - x[i, 2, m]
                dist2 = dx * dx + dy * dy + dz * dz
                inv_r3 = 1.0 / (dist2 * np.sqrt(dist2))
                wi = inv_r3 * masses[j]
                wj = inv_r3 * masses[i]
                acc[i, 0, m] += wi * dx
                acc[i, 1, m] += wi * dy
                acc[i, 2, m] += wi * dz
                acc[j, 0, m] -= wj * dx
                acc[j, 1, m] -= wj * dy
                acc[j, 2, m] -= wj * dz
    for i in range(n):
        for c in range(3):
            for m in range(members):
                acc[i, c, m] = g * acc[i, c, m]


def verlet_step(x, v, acc, masses, g, dt):
    """One velocity-Verlet step of every member (n, 3, K) in place; ``acc`` holds a(x) before and after."""
    n, members = x.shape[0], x.shape[2]
    for b in range(n):
        for c in range(3):
            for m in range(members):
                half = v[b, c, m] + 0.5 * dt * acc[b, c, m]
                v[b, c, m] = half
                x[b, c, m] = x[b, c, m] + dt * half
    accelerate(x, masses, g, acc)
    for b in range(n):
        for c in range(3):
            for m in range(members):
                v[b, c, m] = v[b, c, m] + 0.5 * dt * acc[b, c, m]


def rk4_step(x, v, masses, g, dt, work):
    """One classical RK4 step of every member (n, 3, K) in place; ``work`` is scratch (8, n, 3, K)."""
    n, members = x.shape[0], x.shape[2]
    k1v, k2v, k3v, k4v, trial, k2p, k3p, k4p = work[0], work[1], work[2], work[3], work[4], work[5], work[6], work[7]
    accelerate(x, masses, g, k1v)  # k1p = v
    for b in range(n):
        for c in range(3):
            for m in range(members):
                k2p[b, c, m] = v[b, c, m] + 0.5 * dt * k1v[b, c, m]
                trial[b, c, m] = x[b, c, m] + 0.5 * dt * v[b, c, m]
    accelerate(trial, masses, g, k2v)
    for b in range(n):
        for c in range(3):
            for m in range(members):
                k3p[b, c, m] = v[b, c, m] + 0.5 * dt * k2v[b, c, m]
                trial[b, c, m] = x[b, c, m] + 0.5 * dt * k2p[b, c, m]
    accelerate(trial, masses, g, k3v)
    for b in range(n):
        for c in range(3):
            for m in range(members):
                k4p[b, c, m] = v[b, c, m] + dt * k3v[b, c, m]
                trial[b, c, m] = x[b, c, m] + dt * k3p[b, c, m]
    accelerate(trial, masses, g, k4v)
    for b in range(n):
        for c in range(3):
            for m in range(members):
                x[b, c, m] = x[b, c, m] + dt / 6.0 * (v[b, c, m] + 2 * k2p[b, c, m] + 2 * k3p[b, c, m] + k4p[b, c, m])
                v[b, c, m] = v[b, c, m] + dt / 6.0 * (k1v[b, c, m] + 2 * k2v[b, c, m] + 2 * k3v[b, c, m] + k4v[b, c, m])


def step(x, v, acc, masses, g, dt, rk4, work):
    if rk4:
        rk4_step(x, v, masses, g, dt, work)
    else:
        verlet_step(x, v, acc, masses, g, dt)


def start(positions, velocities, masses, g, rk4):
    """Members-last copies (n, 3, K) of positions and velocities (K, n, 3), with a(x) for
    Verlet (recomputed from the positions: splitting a run changes no bit) and scratch."""
    members, n = positions.shape[0], positions.shape[1]
    x = np.empty((n, 3, members))
    v = np.empty((n, 3, members))
    for m in range(members):
        for b in range(n):
            for c in range(3):
                x[b, c, m] = positions[m, b, c]
                v[b, c, m] = velocities[m, b, c]
    acc = np.empty_like(x)
    if not rk4:
        accelerate(x, masses, g, acc)
    return x, v, acc, np.empty((8, *x.shape))


def trajectory(positions, velocities, masses, g, dt, rk4, out_p, out_v):
    """Fill out_p/out_v (b, K, n, 3) with the next b states of every member: model._verlet /
    model._rk4, bit for bit."""
    x, v, acc, work = start(positions, velocities, masses, g, rk4)
    for s in range(out_p.shape[0]):
        step(x, v, acc, masses, g, dt, rk4, work)
        out_p[s] = x.transpose(2, 0, 1)
        out_v[s] = v.transpose(2, 0, 1)


def advance(positions, velocities, masses, g, dt, steps, rk4):
    """Only integrate every member (K, n, 3) ``steps`` steps, in place: no moments, no output.
    The floor the ensemble kernel is measured against (bench/bench_propagation.py)."""
    x, v, acc, work = start(positions, velocities, masses, g, rk4)
    for _ in range(steps):
        step(x, v, acc, masses, g, dt, rk4, work)
    positions[:] = x.transpose(2, 0, 1)
    velocities[:] = v.transpose(2, 0, 1)


def lane_dot(rows, i, j):
    """sum_m rows[i, m] rows[j, m] in a fixed order: eight partial sums over the members
    m = l (mod 8), the remainder, then a fixed tree; j = -1 sums row i alone. (A plain
    running sum is one chain of dependent additions, which without fast-math may not be
    reordered: eight independent chains run about eight times faster.)"""
    members = rows.shape[1]
    full = members - members % 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = tail = 0.0
    if j < 0:
        for m in range(0, full, 8):
            s0 += rows[i, m]
            s1 += rows[i, m + 1]
            s2 += rows[i, m + 2]
            s3 += rows[i, m + 3]
            s4 += rows[i, m + 4]
            s5 += rows[i, m + 5]
            s6 += rows[i, m + 6]
            s7 += rows[i, m + 7]
        for m in range(full, members):
            tail += rows[i, m]
    else:
        for m in range(0, full, 8):
            s0 += rows[i, m] * rows[j, m]
            s1 += rows[i, m + 1] * rows[j, m + 1]
            s2 += rows[i, m + 2] * rows[j, m + 2]
            s3 += rows[i, m + 3] * rows[j, m + 3]
            s4 += rows[i, m + 4] * rows[j, m + 4]
            s5 += rows[i, m + 5] * rows[j, m + 5]
            s6 += rows[i, m + 6] * rows[j, m + 6]
            s7 += rows[i, m + 7] * rows[j, m + 7]
        for m in range(full, members):
            tail += rows[i, m] * rows[j, m]
    return (((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))) + tail


def add_moments(x, v, mean, m2, centred):
    """mean (D,) and M2 (D, D) of the members' states x, v (n, 3, K), D = 6 n ordered body by
    body as x, y, z, vx, vy, vz: two passes (mean, then centred products); ``centred`` is
    scratch (D, K)."""
    n, members = x.shape[0], x.shape[2]
    for b in range(n):
        for c in range(3):
            for m in range(members):
                centred[6 * b + c, m] = x[b, c, m]
                centred[6 * b + 3 + c, m] = v[b, c, m]
    for i in range(6 * n):
        mean[i] = lane_dot(centred, i, -1) / members
        for m in range(members):
            centred[i, m] = centred[i, m] - mean[i]
    for i in range(6 * n):
        for j in range(i + 1):
            m2[i, j] = lane_dot(centred, i, j)
            m2[j, i] = m2[i, j]


def ensemble_moments(positions, velocities, masses, g, dt, steps, rk4, mean, m2):
    """Advance every member (K, n, 3), in place, ``steps`` steps; row s of mean (S+1, D) and
    m2 (S+1, D, D) gets the moments after s steps. Returns the first step whose moments are
    not finite (the integration stops there), or -1."""
    x, v, acc, work = start(positions, velocities, masses, g, rk4)
    centred = np.empty((mean.shape[1], x.shape[2]))
    add_moments(x, v, mean[0], m2[0], centred)
    status = -1
    for s in range(1, steps + 1):
        step(x, v, acc, masses, g, dt, rk4, work)
        add_moments(x, v, mean[s], m2[s], centred)
        if not np.all(np.isfinite(mean[s])):
            status = s
            break
    positions[:] = x.transpose(2, 0, 1)
    velocities[:] = v.transpose(2, 0, 1)
    return status


def merge_into(first_mean, first_m2, first_count, second_mean, second_m2, second_count):
    """Chan's merge of a second group's per-step moments into the first group's arrays, in
    place, in one pass: the operations of ensemble.merge_pair, in the same order (same bits),
    without its five temporaries of (S, D, D)."""
    total = first_count + second_count
    weight_mean = second_count / total
    weight_m2 = first_count * second_count / total
    rows, d = first_mean.shape
    delta = np.empty(d)
    for s in range(rows):
        for i in range(d):
            delta[i] = second_mean[s, i] - first_mean[s, i]
        for i in range(d):
            for j in range(d):
                first_m2[s, i, j] = (first_m2[s, i, j] + second_m2[s, i, j]) + delta[i] * delta[j] * weight_m2
        for i in range(d):
            first_mean[s, i] = first_mean[s, i] + delta[i] * weight_mean


@dataclass(frozen=True)
class Kernels:
    trajectory: Any
    ensemble_moments: Any
    advance: Any
    merge_into: Any


@cache
def kernels() -> Kernels:
    """The compiled functions (compiled, or loaded from numba's cache, once per process)."""
    import numba
    import numpy

    compiled: dict[str, Any] = {"np": numpy}  # numba needs the module, not the lazy proxy
    # compiled in this order, each seeing the ones before it under its own name
    for function in (
        accelerate,
        verlet_step,
        rk4_step,
        step,
        start,
        trajectory,
        advance,
        lane_dot,
        add_moments,
        ensemble_moments,
        merge_into,
    ):
        # a copy of the function whose globals name the compiled helpers (module globals stay
        # the plain Python functions, which is what the code version hashes)
        namespace = dict(function.__globals__) | compiled
        copy = types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__)
        copy.__qualname__, copy.__module__ = function.__qualname__, function.__module__
        compiled[function.__name__] = _jit(numba, copy)
    return Kernels(compiled["trajectory"], compiled["ensemble_moments"], compiled["advance"], compiled["merge_into"])


def _jit(numba: Any, function: types.FunctionType) -> Any:
    try:
        return numba.njit(nogil=True, cache=True)(function)
    except RuntimeError:  # no writable cache location (read-only install, no NUMBA_CACHE_DIR)
        return numba.njit(nogil=True)(function)
