"""Ensemble propagation: K perturbed initial states, chunked, reduced to mean/covariance.

The ensemble is split into fixed-size chunks. Each chunk is propagated and reduced to
per-step count / mean / M2 (sum of squared deviations): with the compiled kernel in one
call that integrates and reduces step by step (compiled.py), with the numpy reference block
of steps by block of steps as the integrator produces them. A chunk holds O(steps * D^2)
plus one block, and only the moments and the final member states travel back, never the
members' trajectories.

Chunks are merged with Chan's parallel formula along one fixed binary tree over the chunk
indices (halving), so the result depends on the chunking, never on where chunks ran: a Dask
task evaluates a whole subtree (several chunks, enough work to make the per-task overhead
negligible) and the driver merges the task results along the same tree. Dask and in-process,
with any number of tasks, agree bit for bit.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from platform_assets.propagation import compiled
from platform_assets.propagation.model import (
    Bodies,
    G,
    Kernel,
    Method,
    PropagationInputError,
    checked_kernel,
    non_finite_error,
    propagate,
    propagate_blocks,
    validate_state,
    validate_step,
)
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")

if TYPE_CHECKING:
    from distributed import Client

# Members per chunk unless configured: four chunks (Dask tasks, at most) for the default 256.
DEFAULT_CHUNK_SIZE = 64
# Floats per array of one integrator block (positions, velocities, states): ~4 MB each.
BLOCK_VALUES = 1 << 19
# Rough cost of one member-step (two bodies) on one core, from bench/bench_propagation.py:
# what decides whether Dask pays and how much work one Dask task gets.
SECONDS_PER_MEMBER_STEP = {
    ("numba", "verlet"): 40e-9,
    ("numba", "rk4"): 100e-9,
    ("numpy", "verlet"): 400e-9,
    ("numpy", "rk4"): 1200e-9,
}
# Below this much estimated compute a run stays in-process: starting a LocalCluster and
# shipping tasks costs more than it saves (the crossover measured by the benchmark).
DASK_MIN_SECONDS = 1.0
# Work per Dask task: per-task overhead (scheduling, transfer of the moments) is ~1-5 ms,
# so 0.1 s of compute keeps it under 5 %.
TASK_SECONDS = 0.1


@dataclass(frozen=True)
class EnsembleSpec:
    """How the ensemble is drawn and cut into chunks."""

    size: int
    position_sigma: float
    velocity_sigma: float
    seed: int
    chunk_size: int

    def __post_init__(self) -> None:
        if self.size < 1:
            raise PropagationInputError(f"ensemble size must be >= 1, got {self.size}")
        if self.chunk_size < 1:
            raise PropagationInputError(f"chunk size must be >= 1, got {self.chunk_size}")
        for name in ("position_sigma", "velocity_sigma"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise PropagationInputError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class ChunkStats:
    """Per-step moments of one chunk: count, mean (S, D), M2 (S, D, D), and its final state."""

    count: int
    mean: np.ndarray
    m2: np.ndarray
    final_positions: np.ndarray
    final_velocities: np.ndarray


@dataclass(frozen=True)
class EnsembleResult:
    """Per-step ensemble mean (S, D) and covariance (S, D, D); final member states (K, n, 3).

    D = n_bodies * 6, ordered body by body as x, y, z, vx, vy, vz.
    """

    mean: np.ndarray
    covariance: np.ndarray
    final_positions: np.ndarray
    final_velocities: np.ndarray


def initial_ensemble(bodies: Bodies, spec: EnsembleSpec) -> tuple[np.ndarray, np.ndarray]:
    """K gaussian perturbations of the nominal state, drawn from ``spec.seed`` (reproducible)."""
    rng = np.random.default_rng(spec.seed)
    shape = (spec.size, bodies.n_bodies, 3)
    positions = bodies.positions[None] + spec.position_sigma * rng.standard_normal(shape)
    velocities = bodies.velocities[None] + spec.velocity_sigma * rng.standard_normal(shape)
    validate_state(positions, velocities, bodies.masses)
    return positions, velocities


def state_vectors(positions: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """(..., n, 3) positions + velocities -> (..., n * 6) state vectors."""
    stacked = np.concatenate([positions, velocities], axis=-1)
    return stacked.reshape(*stacked.shape[:-2], -1)


def block_steps_for(members: int, n_bodies: int) -> int:
    """Steps per integrator block so one block's arrays stay around BLOCK_VALUES floats."""
    return max(1, BLOCK_VALUES // (members * n_bodies * 6))


def estimated_seconds(members: int, steps: int, n_bodies: int, method: Method, kernel: Kernel) -> float:
    """Single-core compute estimate of an ensemble run (scales with the body pairs)."""
    pairs = max(1, n_bodies * (n_bodies - 1) // 2)
    return members * steps * pairs * SECONDS_PER_MEMBER_STEP[(kernel, method)]


def propagate_chunk(
    positions: np.ndarray,
    velocities: np.ndarray,
    masses: np.ndarray,
    dt: float,
    steps: int,
    method: Method,
    kernel: Kernel = "numba",
) -> ChunkStats:
    """Propagate one chunk (k, n, 3) and reduce it to per-step moments: memory is
    O(steps * D^2 + block * k), never O(steps * k)."""
    if checked_kernel(kernel) == "numba":
        return _compiled_chunk(positions, velocities, masses, dt, steps, method)
    k, n = positions.shape[0], positions.shape[1]
    d = n * 6
    mean = np.empty((steps + 1, d))
    m2 = np.empty((steps + 1, d, d))
    row = 0
    blocks = propagate_blocks(positions, velocities, masses, dt, steps, method, block_steps_for(k, n))
    for block_p, block_v in blocks:
        states = state_vectors(block_p, block_v)  # (b, k, D)
        block_mean = states.mean(axis=1)
        centered = states - block_mean[:, None, :]
        rows = slice(row, row + states.shape[0])
        mean[rows] = block_mean
        m2[rows] = np.matmul(centered.transpose(0, 2, 1), centered)
        row += states.shape[0]
        final_p, final_v = block_p[-1].copy(), block_v[-1].copy()
    return ChunkStats(k, mean, m2, final_p, final_v)


def _compiled_chunk(
    positions: np.ndarray, velocities: np.ndarray, masses: np.ndarray, dt: float, steps: int, method: Method
) -> ChunkStats:
    """The fused compiled kernel: integration and per-step moments in one call."""
    validate_step(dt, steps, method)
    final_p = np.array(positions, dtype=np.float64)  # advanced in place
    final_v = np.array(velocities, dtype=np.float64)
    masses = np.asarray(masses, dtype=np.float64)
    validate_state(final_p, final_v, masses)
    d = final_p.shape[1] * 6
    mean = np.empty((steps + 1, d))
    m2 = np.empty((steps + 1, d, d))
    failed = compiled.kernels().ensemble_moments(final_p, final_v, masses, G, dt, steps, method == "rk4", mean, m2)
    if failed >= 0:
        raise non_finite_error(failed, dt)
    return ChunkStats(final_p.shape[0], mean, m2, final_p, final_v)


def merge_pair(first: ChunkStats, second: ChunkStats, kernel: Kernel = "numpy") -> ChunkStats:
    """Moments of two consecutive groups of members (Chan et al.); finals concatenated in
    order. The compiled kernel does the same arithmetic in one pass, in place (it consumes
    ``first``); both give the same bits."""
    total = first.count + second.count
    finals_p = np.concatenate([first.final_positions, second.final_positions])
    finals_v = np.concatenate([first.final_velocities, second.final_velocities])
    if kernel == "numba":
        # results that came over the network may be read-only views of the received buffers
        mean, m2 = (a if a.flags.writeable else a.copy() for a in (first.mean, first.m2))
        compiled.kernels().merge_into(mean, m2, first.count, second.mean, second.m2, second.count)
        return ChunkStats(total, mean, m2, finals_p, finals_v)
    delta = second.mean - first.mean
    mean = first.mean + delta * (second.count / total)
    outer = delta[:, :, None] * delta[:, None, :]
    outer *= first.count * second.count / total
    m2 = first.m2 + second.m2
    m2 += outer  # (a + b) + c, in place: one temporary fewer than the expression
    return ChunkStats(total, mean, m2, finals_p, finals_v)


def reduce_tree(
    lo: int, hi: int, node: Callable[[int, int], ChunkStats | None], kernel: Kernel = "numpy"
) -> ChunkStats:
    """Merge chunks [lo, hi) along the fixed tree (halves [lo, mid) and [mid, hi), mid =
    (lo + hi) // 2). ``node(lo, hi)`` supplies a node's result (a leaf, a finished task) or
    None to descend. Holds one partial result per tree level."""
    result = node(lo, hi)
    if result is not None:
        return result
    if hi - lo < 2:
        raise ValueError(f"no result for chunk {lo}")
    mid = (lo + hi) // 2
    return merge_pair(reduce_tree(lo, mid, node, kernel), reduce_tree(mid, hi, node, kernel), kernel)


def tree_nodes(lo: int, hi: int, depth: int) -> list[tuple[int, int]]:
    """The nodes ``depth`` levels below [lo, hi) (leaves stop early), left to right."""
    if depth == 0 or hi - lo < 2:
        return [(lo, hi)]
    mid = (lo + hi) // 2
    return tree_nodes(lo, mid, depth - 1) + tree_nodes(mid, hi, depth - 1)


def chunk_bounds(size: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk_size, size)) for start in range(0, size, chunk_size)]


def task_depth(chunks: int, seconds: float, workers: int) -> int:
    """Tree depth whose nodes become Dask tasks: about ``TASK_SECONDS`` of work each, at
    least one per worker when there is work enough, never more tasks than chunks."""
    wanted = max(1, min(chunks, round(seconds / TASK_SECONDS)))
    wanted = max(wanted, min(chunks, workers)) if seconds >= DASK_MIN_SECONDS else wanted
    return max(0, math.ceil(math.log2(wanted)))


def run_ensemble(
    positions: np.ndarray,
    velocities: np.ndarray,
    masses: np.ndarray,
    dt: float,
    steps: int,
    method: Method,
    chunk_size: int,
    client: Client | None = None,
    kernel: Kernel = "numba",
) -> EnsembleResult:
    """Propagate every member ``steps`` steps from (positions, velocities), chunk by chunk.

    With ``client`` subtrees of chunks are Dask tasks; without, everything runs here. Row 0
    of the result is the start state, so a resumed run drops it before appending.
    """
    validate_step(dt, steps, method)
    checked_kernel(kernel)
    validate_state(positions, velocities, masses)
    bounds = chunk_bounds(positions.shape[0], chunk_size)
    chunks = (positions, velocities, masses, dt, steps, method, kernel, bounds)
    if client is None:
        stats = _subtree(0, len(bounds), *chunks)
    else:
        seconds = estimated_seconds(positions.shape[0], steps, positions.shape[1], method, kernel)
        workers = max(1, sum(client.nthreads().values()))
        nodes = tree_nodes(0, len(bounds), task_depth(len(bounds), seconds, workers))
        futures = {
            (lo, hi): client.submit(_subtree_task, lo, hi, *_slice(chunks, lo, hi), pure=False) for lo, hi in nodes
        }
        stats = reduce_tree(
            0,
            len(bounds),
            lambda lo, hi: ChunkStats(*futures[(lo, hi)].result()) if (lo, hi) in futures else None,
            kernel,
        )
    covariance = stats.m2 / (stats.count - 1) if stats.count > 1 else np.zeros_like(stats.m2)
    return EnsembleResult(stats.mean, covariance, stats.final_positions, stats.final_velocities)


def _slice(chunks: tuple[Any, ...], lo: int, hi: int) -> tuple[Any, ...]:
    """The members of chunks [lo, hi) only (what one task needs), with their bounds."""
    positions, velocities, masses, dt, steps, method, kernel, bounds = chunks
    first, last = bounds[lo][0], bounds[hi - 1][1]
    shifted = [(a - first, b - first) for a, b in bounds]
    return positions[first:last], velocities[first:last], masses, dt, steps, method, kernel, shifted


def _subtree(
    lo: int,
    hi: int,
    positions: np.ndarray,
    velocities: np.ndarray,
    masses: np.ndarray,
    dt: float,
    steps: int,
    method: Method,
    kernel: Kernel,
    bounds: list[tuple[int, int]],
) -> ChunkStats:
    def leaf(a: int, b: int) -> ChunkStats | None:
        if b - a != 1:
            return None
        start, stop = bounds[a]
        return propagate_chunk(positions[start:stop], velocities[start:stop], masses, dt, steps, method, kernel)

    return reduce_tree(lo, hi, leaf, kernel)


def _subtree_task(*args: Any) -> tuple[Any, ...]:
    """Dask task: plain tuple out, so no class defined here travels back by value."""
    stats = _subtree(*args)
    return (stats.count, stats.mean, stats.m2, stats.final_positions, stats.final_velocities)


@dataclass(frozen=True)
class RunState:
    """Everything a run produced, rows 0..steps; enough to continue it."""

    masses: np.ndarray
    nominal_positions: np.ndarray  # (S, n, 3)
    nominal_velocities: np.ndarray
    mean: np.ndarray  # (S, D)
    covariance: np.ndarray  # (S, D, D)
    final_positions: np.ndarray  # (K, n, 3)
    final_velocities: np.ndarray

    @property
    def steps(self) -> int:
        return self.nominal_positions.shape[0] - 1

    def to_npz(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{f.name: getattr(self, f.name) for f in fields(self)})
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, data: bytes) -> RunState:
        with np.load(io.BytesIO(data)) as arrays:
            return cls(**{f.name: arrays[f.name] for f in fields(cls)})

    def extended(self, later: RunState) -> RunState:
        """This run followed by ``later``, which started from this run's final state."""
        return RunState(
            masses=self.masses,
            nominal_positions=np.concatenate([self.nominal_positions, later.nominal_positions[1:]]),
            nominal_velocities=np.concatenate([self.nominal_velocities, later.nominal_velocities[1:]]),
            mean=np.concatenate([self.mean, later.mean[1:]]),
            covariance=np.concatenate([self.covariance, later.covariance[1:]]),
            final_positions=later.final_positions,
            final_velocities=later.final_velocities,
        )


def propagate_ensemble(
    bodies: Bodies,
    spec: EnsembleSpec,
    dt: float,
    steps: int,
    method: Method,
    client: Client | None = None,
    start: RunState | None = None,
    kernel: Kernel = "numba",
) -> RunState:
    """Nominal + ensemble for ``steps`` steps, from the initial state or continuing ``start``.

    The one entry point for the asset, the tests and the benchmark; ``client=None`` runs
    in-process. Continuing an M-step run by N - M steps gives the N-step run.
    """
    if start is None:
        nominal_p, nominal_v = bodies.positions[None], bodies.velocities[None]
        members_p, members_v = initial_ensemble(bodies, spec)
    else:
        nominal_p, nominal_v = start.nominal_positions[-1:], start.nominal_velocities[-1:]
        members_p, members_v = start.final_positions, start.final_velocities
    traj_p, traj_v = propagate(nominal_p, nominal_v, bodies.masses, dt, steps, method, kernel)
    moments = run_ensemble(members_p, members_v, bodies.masses, dt, steps, method, spec.chunk_size, client, kernel)
    run = RunState(
        masses=bodies.masses,
        nominal_positions=traj_p[:, 0],
        nominal_velocities=traj_v[:, 0],
        mean=moments.mean,
        covariance=moments.covariance,
        final_positions=moments.final_positions,
        final_velocities=moments.final_velocities,
    )
    return run if start is None else start.extended(run)
