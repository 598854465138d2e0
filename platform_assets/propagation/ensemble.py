"""Ensemble propagation: K perturbed initial states, chunked, reduced to mean/covariance.

The ensemble is split into fixed-size chunks. Each chunk is propagated vectorized
(one numpy call per step for the whole chunk) and reduced, block of steps by block of
steps as the integrator produces them, to per-step count / mean / M2 (sum of squared
deviations): a task holds O(steps * D^2) plus one block, and only the moments and the
final member states travel back, never the members' trajectories. Chunks run on Dask when a client is
given, in-process otherwise; the partial results are merged in chunk order with
Chan's parallel formula, so the result does not depend on where or in which order
chunks ran (Dask and in-process agree bit for bit).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from platform_assets.propagation.model import (
    Bodies,
    Method,
    PropagationInputError,
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

# Floats per array of one integrator block (positions, velocities, states): ~4 MB each.
BLOCK_VALUES = 1 << 19


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


def propagate_chunk(
    positions: np.ndarray,
    velocities: np.ndarray,
    masses: np.ndarray,
    dt: float,
    steps: int,
    method: Method,
) -> ChunkStats:
    """Propagate one chunk (k, n, 3), reducing each block of steps to per-step moments as
    the integrator produces it: memory is O(steps * D^2 + block * k), never O(steps * k)."""
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


def merge_moments(parts: Iterable[ChunkStats]) -> tuple[int, np.ndarray, np.ndarray]:
    """Merge chunk moments in the given order (Chan et al.); deterministic. Consumes the
    parts one at a time, so only the running total and one chunk are held."""
    parts = iter(parts)
    first = next(parts)
    count, mean, m2 = first.count, first.mean, first.m2
    for part in parts:
        total = count + part.count
        delta = part.mean - mean
        mean = mean + delta * (part.count / total)
        m2 = m2 + part.m2 + np.einsum("sd,se->sde", delta, delta) * (count * part.count / total)
        count = total
    return count, mean, m2


def chunk_bounds(size: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk_size, size)) for start in range(0, size, chunk_size)]


def run_ensemble(
    positions: np.ndarray,
    velocities: np.ndarray,
    masses: np.ndarray,
    dt: float,
    steps: int,
    method: Method,
    chunk_size: int,
    client: Client | None = None,
) -> EnsembleResult:
    """Propagate every member ``steps`` steps from (positions, velocities), chunk by chunk.

    With ``client`` the chunks are Dask tasks; without, they run here. Row 0 of the
    result is the start state, so a resumed run drops it before appending.
    """
    validate_step(dt, steps, method)
    validate_state(positions, velocities, masses)
    bounds = chunk_bounds(positions.shape[0], chunk_size)
    args: list[tuple[Any, ...]] = [
        (positions[lo:hi], velocities[lo:hi], masses, dt, steps, method) for lo, hi in bounds
    ]
    finals: list[tuple[np.ndarray, np.ndarray]] = []

    def in_chunk_order(parts: Iterable[ChunkStats]) -> Iterator[ChunkStats]:
        for part in parts:
            finals.append((part.final_positions, part.final_velocities))
            yield part

    if client is None:
        parts: Iterable[ChunkStats] = (propagate_chunk(*a) for a in args)
    else:
        _ship_model_by_value()
        futures = [client.submit(_chunk_task, *a, pure=False) for a in args]
        parts = (ChunkStats(*future.result()) for future in futures)
    count, mean, m2 = merge_moments(in_chunk_order(parts))
    covariance = m2 / (count - 1) if count > 1 else np.zeros_like(m2)
    return EnsembleResult(
        mean=mean,
        covariance=covariance,
        final_positions=np.concatenate([p for p, _ in finals]),
        final_velocities=np.concatenate([v for _, v in finals]),
    )


def _chunk_task(*args: Any) -> tuple[Any, ...]:
    """Dask task: plain tuple out, so no class defined here travels back by value."""
    stats = propagate_chunk(*args)
    return (stats.count, stats.mean, stats.m2, stats.final_positions, stats.final_velocities)


def _ship_model_by_value() -> None:
    """Pickle the model code by value, so remote Dask workers need only numpy, not this repo."""
    import cloudpickle

    from platform_assets.propagation import ensemble, model

    cloudpickle.register_pickle_by_value(model)
    cloudpickle.register_pickle_by_value(ensemble)


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
    traj_p, traj_v = propagate(nominal_p, nominal_v, bodies.masses, dt, steps, method)
    moments = run_ensemble(members_p, members_v, bodies.masses, dt, steps, method, spec.chunk_size, client)
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
