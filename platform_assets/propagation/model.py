"""N-body point-mass model (G = 1), vectorized over an ensemble axis.

Every state array is shaped ``(K, n_bodies, 3)``: K ensemble members, each a full
n-body system. The integrators advance all members at once with numpy, which is
what replaces the original per-agent Python loop. Steps are fixed, so a run is a
pure function of (initial state, masses, dt, steps, method): deterministic and
resumable (propagating M steps, then N - M more from the final state, gives the
same numbers as N steps from the start).

The original default system ("Planet" + "Satellite") is kept as the default: the
planet is the attracting mass (G*M = 1), the satellite a light body whose mass is
small but positive, so the two-body problem reduces to the original's Kepler orbit.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from platform_assets.propagation import compiled
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")


G = 1.0
METHODS = ("verlet", "rk4")
Method = Literal["verlet", "rk4"]
# "numpy": the reference implementation; "numba": the compiled kernel (compiled.py), same
# trajectories bit for bit, ensemble moments summed in another order.
KERNELS = ("numba", "numpy")
Kernel = Literal["numba", "numpy"]
AXES = ("x", "y", "z")


class PropagationInputError(ValueError):
    """Raised for invalid model input (the message names the problem)."""


@dataclass(frozen=True)
class Bodies:
    """A nominal n-body system: names, masses (n,), positions and velocities (n, 3)."""

    names: tuple[str, ...]
    masses: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray

    def __post_init__(self) -> None:
        masses = np.asarray(self.masses, dtype=np.float64)
        positions = np.asarray(self.positions, dtype=np.float64)
        velocities = np.asarray(self.velocities, dtype=np.float64)
        n = len(self.names)
        if len(set(self.names)) != n:
            raise PropagationInputError(f"body names must be unique, got {list(self.names)}")
        if masses.shape != (n,) or positions.shape != (n, 3) or velocities.shape != (n, 3):
            raise PropagationInputError(
                f"{n} bodies need masses ({n},), positions ({n}, 3), velocities ({n}, 3); got "
                f"{masses.shape}, {positions.shape}, {velocities.shape}"
            )
        validate_state(positions[None], velocities[None], masses)
        object.__setattr__(self, "masses", masses)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "velocities", velocities)

    @property
    def n_bodies(self) -> int:
        return len(self.names)


def default_bodies() -> Bodies:
    """The original service's first default initial state (Planet, Satellite; z = 0)."""
    return Bodies(
        names=("Planet", "Satellite"),
        masses=np.array([1.0, 1e-6]),
        positions=np.array([[0.0, 0.1, 0.0], [0.0, 1.0, 0.0]]),
        velocities=np.array([[0.1, 0.0, 0.0], [1.0, 0.0, 0.0]]),
    )


def body1_body2() -> Bodies:
    """The original service's latest default system (its web form's Body1 and Body2): a unit
    mass and a body of 0.0123 (the Moon/Earth mass ratio) on a near-circular orbit at 61."""
    return Bodies(
        names=("Body1", "Body2"),
        masses=np.array([1.0, 0.0123]),
        positions=np.array([[-0.73, 0.0, 0.0], [60.34, 0.0, 0.0]]),
        velocities=np.array([[0.0, -0.0015, 0.0], [0.0, 0.13, 0.0]]),
    )


# Named initial systems a run can ask for (run config `system`).
SYSTEMS = ("planet_satellite", "body1_body2")


def system_bodies(system: str) -> Bodies:
    """The preset called ``system``, or a clear error naming the presets. (Named calls, not a
    dict of functions: the code version follows names, so a changed preset is a new version.)"""
    if system == "planet_satellite":
        return default_bodies()
    if system == "body1_body2":
        return body1_body2()
    raise PropagationInputError(f"unknown system {system!r}; choose one of {SYSTEMS}")


def validate_step(dt: float, steps: int | None = None, method: str | None = None) -> None:
    """Reject a non-finite or non-positive dt, a negative step count, an unknown method."""
    if not np.isfinite(dt) or dt <= 0:
        raise PropagationInputError(f"time step dt must be a positive finite number, got {dt!r}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0):
        raise PropagationInputError(f"steps must be a non-negative integer, got {steps!r}")
    if method is not None:
        checked_method(method)


def checked_method(method: str) -> Method:
    """`method` as a `Method`, or a clear error naming the choices."""
    for known in typing.get_args(Method):
        if method == known:
            return known
    raise PropagationInputError(f"unknown method {method!r}; choose one of {METHODS}")


def checked_kernel(kernel: str) -> Kernel:
    """`kernel` as a `Kernel`, or a clear error naming the choices."""
    for known in typing.get_args(Kernel):
        if kernel == known:
            return known
    raise PropagationInputError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")


def validate_state(positions: np.ndarray, velocities: np.ndarray, masses: np.ndarray) -> None:
    """Reject shapes that don't match, non-finite values, non-positive masses, coincident bodies."""
    if positions.ndim != 3 or positions.shape[-1] != 3 or velocities.shape != positions.shape:
        raise PropagationInputError(
            f"positions and velocities must both be shaped (K, n_bodies, 3); got "
            f"{positions.shape} and {velocities.shape}"
        )
    if masses.shape != (positions.shape[1],):
        raise PropagationInputError(f"masses must be shaped ({positions.shape[1]},), got {masses.shape}")
    for name, values in (("masses", masses), ("positions", positions), ("velocities", velocities)):
        if not np.all(np.isfinite(values)):
            raise PropagationInputError(f"{name} contain non-finite values (NaN or inf)")
    if np.any(masses <= 0):
        raise PropagationInputError(f"masses must be positive, got {masses.tolist()}")
    separation = _pair_distances(positions)
    if separation.size and np.min(separation) == 0.0:
        member, i, j = _first_coincident(positions)
        raise PropagationInputError(f"bodies {i} and {j} are coincident (zero separation) in ensemble member {member}")


def _pair_distances(positions: np.ndarray) -> np.ndarray:
    n = positions.shape[1]
    i, j = np.triu_indices(n, k=1)
    return np.linalg.norm(positions[:, i] - positions[:, j], axis=-1)


def _first_coincident(positions: np.ndarray) -> tuple[int, int, int]:
    n = positions.shape[1]
    i, j = np.triu_indices(n, k=1)
    distances = np.linalg.norm(positions[:, i] - positions[:, j], axis=-1)
    member, pair = np.argwhere(distances == 0.0)[0]
    return int(member), int(i[pair]), int(j[pair])


def accelerations(positions: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Newtonian accelerations, shaped like ``positions`` (K, n, 3).

    Every sum is written out in a fixed order (x, y, z; then partners j in increasing order)
    and 1/r^3 is 1 / (r^2 sqrt(r^2)), all correctly rounded operations: the compiled kernel
    (compiled.py) repeats them one by one and gets the same bits (einsum's summation order
    and numpy's SIMD pow are not specified).
    """
    delta = positions[:, None, :, :] - positions[:, :, None, :]  # (K, i, j, 3): r_j - r_i
    dist2 = delta[..., 0] * delta[..., 0] + delta[..., 1] * delta[..., 1] + delta[..., 2] * delta[..., 2]
    n = positions.shape[1]
    dist2[:, np.arange(n), np.arange(n)] = np.inf  # no self-force
    weights = 1.0 / (dist2 * np.sqrt(dist2)) * masses  # m_j / r_ij^3, (K, i, j)
    return G * (weights[..., None] * delta).sum(axis=2)


def _verlet(positions, velocities, masses, dt, out_p, out_v):
    """Fill out_p/out_v (b, K, n, 3) with the next b states; returns the last one.

    The acceleration at the start is recomputed from the positions (a pure function of
    them), so splitting a run into blocks changes no bit of the result.
    """
    acc = accelerations(positions, masses)
    for s in range(out_p.shape[0]):
        half = velocities + 0.5 * dt * acc
        positions = positions + dt * half
        acc = accelerations(positions, masses)
        velocities = half + 0.5 * dt * acc
        out_p[s], out_v[s] = positions, velocities
    return positions, velocities


def _rk4(positions, velocities, masses, dt, out_p, out_v):
    for s in range(out_p.shape[0]):
        k1p, k1v = velocities, accelerations(positions, masses)
        k2p, k2v = velocities + 0.5 * dt * k1v, accelerations(positions + 0.5 * dt * k1p, masses)
        k3p, k3v = velocities + 0.5 * dt * k2v, accelerations(positions + 0.5 * dt * k2p, masses)
        k4p, k4v = velocities + dt * k3v, accelerations(positions + dt * k3p, masses)
        positions = positions + dt / 6.0 * (k1p + 2 * k2p + 2 * k3p + k4p)
        velocities = velocities + dt / 6.0 * (k1v + 2 * k2v + 2 * k3v + k4v)
        out_p[s], out_v[s] = positions, velocities
    return positions, velocities


def non_finite_error(step: int, dt: float) -> FloatingPointError:
    return FloatingPointError(f"state became non-finite at step {step} (bodies collided or dt={dt} is too large)")


def _compiled_integrator(method: Method):
    """The compiled trajectory kernel with the numpy integrators' signature."""
    trajectory = compiled.kernels().trajectory
    rk4 = method == "rk4"

    def integrate(positions, velocities, masses, dt, out_p, out_v):
        trajectory(positions, velocities, masses, G, dt, rk4, out_p, out_v)
        return out_p[-1].copy(), out_v[-1].copy()  # the buffers are reused for the next block

    return integrate


def propagate_blocks(
    positions: np.ndarray,
    velocities: np.ndarray,
    masses: np.ndarray,
    dt: float,
    steps: int,
    method: Method = "verlet",
    block_steps: int | None = None,
    kernel: Kernel = "numpy",
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Integrate ``steps`` fixed steps, yielding consecutive blocks of rows 0..steps.

    Each block is (b, K, n, 3) positions and velocities, at most ``block_steps`` rows
    (default: all in one block); row 0 of the first block is the initial state. The
    buffers are reused: a consumer that keeps a block must copy it. Memory is
    O(block_steps * K), whatever ``steps`` is. Raises PropagationInputError for bad input
    and FloatingPointError naming the step when the state stops being finite (a close
    encounter the step size can't resolve).
    """
    positions = np.asarray(positions, dtype=np.float64)
    velocities = np.asarray(velocities, dtype=np.float64)
    masses = np.asarray(masses, dtype=np.float64)
    validate_step(dt, steps, method)
    checked_kernel(kernel)
    validate_state(positions, velocities, masses)
    rows = steps + 1 if block_steps is None else max(1, min(int(block_steps), steps + 1))
    integrate = _compiled_integrator(method) if kernel == "numba" else _verlet if method == "verlet" else _rk4
    buffer_p = np.empty((rows, *positions.shape))
    buffer_v = np.empty_like(buffer_p)
    buffer_p[0], buffer_v[0] = positions, velocities
    filled, first_row = 1, 0
    while True:
        todo = min(rows - filled, steps - (first_row + filled - 1))
        if todo:
            with np.errstate(all="ignore"):
                positions, velocities = integrate(
                    positions,
                    velocities,
                    masses,
                    dt,
                    buffer_p[filled : filled + todo],
                    buffer_v[filled : filled + todo],
                )
        block_p, block_v = buffer_p[: filled + todo], buffer_v[: filled + todo]
        finite = np.isfinite(block_p).all(axis=(1, 2, 3)) & np.isfinite(block_v).all(axis=(1, 2, 3))
        if not finite.all():
            raise non_finite_error(first_row + int(np.argmin(finite)), dt)
        yield block_p, block_v
        first_row += filled + todo
        if first_row > steps:
            return
        filled = 0


def propagate(
    positions: np.ndarray,
    velocities: np.ndarray,
    masses: np.ndarray,
    dt: float,
    steps: int,
    method: Method = "verlet",
    kernel: Kernel = "numpy",
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate ``steps`` fixed steps; returns positions and velocities (steps + 1, K, n, 3).

    Row 0 is the initial state. The whole trajectory in memory: for the nominal run and
    tests; ensembles use `propagate_blocks`.
    """
    [(traj_p, traj_v)] = list(propagate_blocks(positions, velocities, masses, dt, steps, method, kernel=kernel))
    return traj_p, traj_v


def total_energy(positions: np.ndarray, velocities: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Kinetic + potential energy in the centre-of-mass frame, per leading index of (..., n, 3).

    The centre-of-mass frame matters: in the default system the planet's bulk motion
    would otherwise dwarf the satellite's orbital energy and hide any drift.
    """
    com_velocity = np.einsum("j,...jc->...c", masses, velocities) / masses.sum()
    relative = velocities - com_velocity[..., None, :]
    kinetic = 0.5 * np.einsum("j,...jc,...jc->...", masses, relative, relative)
    n = positions.shape[-2]
    i, j = np.triu_indices(n, k=1)
    distance = np.linalg.norm(positions[..., i, :] - positions[..., j, :], axis=-1)
    potential = -G * np.sum(masses[i] * masses[j] / distance, axis=-1)
    return kinetic + potential


def angular_momentum(positions: np.ndarray, velocities: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Total angular momentum vector (..., 3)."""
    return np.einsum("j,...jc->...c", masses, np.cross(positions, velocities))


def relative_energy_error(energy: np.ndarray) -> np.ndarray:
    """|E(t) - E(0)| / |E(0)| for every row of ``energy`` (time on axis 0)."""
    energy = np.asarray(energy, dtype=np.float64)
    scale = np.abs(energy[0])
    scale = np.where(scale == 0.0, 1.0, scale)  # a zero-energy system: report the absolute drift
    return np.abs(energy - energy[0]) / scale


def relative_energy_drift(energy: np.ndarray) -> float:
    """The largest relative energy error over the whole run."""
    return float(np.max(relative_energy_error(energy)))
