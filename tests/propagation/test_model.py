"""The integrators against analytic two-body solutions, and the model's input checks."""

import numpy as np
import pytest

from platform_assets.propagation.model import (
    Bodies,
    PropagationInputError,
    angular_momentum,
    default_bodies,
    propagate,
    system_bodies,
    total_energy,
)

M, m = 1.0, 1e-3


def two_body(separation: float, relative_speed: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre-of-mass frame, zero total momentum: body 0 heavy, body 1 light, on the x axis."""
    total = M + m
    positions = np.array([[-m / total * separation, 0, 0], [M / total * separation, 0, 0]])
    velocities = np.array([[0, -m / total * relative_speed, 0], [0, M / total * relative_speed, 0]])
    return positions[None], velocities[None], np.array([M, m])


@pytest.mark.parametrize("method", ["verlet", "rk4"])
def test_circular_orbit_keeps_radius_and_returns_after_one_period(method):
    a = 1.3
    positions, velocities, masses = two_body(a, np.sqrt((M + m) / a))
    period = 2 * np.pi * np.sqrt(a**3 / (M + m))
    steps = 2000
    traj_p, traj_v = propagate(positions, velocities, masses, period / steps, steps, method)

    separation = np.linalg.norm(traj_p[:, 0, 1] - traj_p[:, 0, 0], axis=-1)
    assert np.max(np.abs(separation - a)) / a < 1e-4
    # after exactly one analytic period the light body is back where it started ...
    assert np.linalg.norm(traj_p[-1, 0, 1] - traj_p[0, 0, 1]) < 1e-3 * a
    # ... and not earlier: at half a period it is on the opposite side
    assert np.linalg.norm(traj_p[steps // 2, 0, 1] - traj_p[0, 0, 1]) == pytest.approx(2 * a * M / (M + m), rel=1e-3)


@pytest.mark.parametrize("method", ["verlet", "rk4"])
def test_kepler_ellipse_conserves_energy_and_angular_momentum_and_matches_apsides(method):
    r0, v0 = 1.0, 0.8  # slower than circular: r0 is the apoapsis
    positions, velocities, masses = two_body(r0, v0)
    mu = M + m
    energy_per_mass = 0.5 * v0**2 - mu / r0
    a = -mu / (2 * energy_per_mass)
    h = r0 * v0
    e = np.sqrt(1 - h**2 / (mu * a))
    period = 2 * np.pi * np.sqrt(a**3 / mu)
    steps = 4000
    traj_p, traj_v = propagate(positions, velocities, masses, period / steps, steps, method)

    energy = total_energy(traj_p, traj_v, masses)[:, 0]
    assert energy[0] == pytest.approx(-M * m / (2 * a), rel=1e-9)
    assert np.max(np.abs(energy - energy[0])) / abs(energy[0]) < 1e-4
    momentum = angular_momentum(traj_p, traj_v, masses)[:, 0]
    assert np.max(np.abs(momentum - momentum[0])) < 1e-10
    separation = np.linalg.norm(traj_p[:, 0, 1] - traj_p[:, 0, 0], axis=-1)
    assert separation.max() == pytest.approx(a * (1 + e), rel=1e-6)
    assert separation.min() == pytest.approx(a * (1 - e), rel=1e-3)
    assert np.argmin(separation) == pytest.approx(steps / 2, abs=2)  # periapsis at half a period


def test_the_original_latest_system_is_a_named_preset():
    bodies = system_bodies("body1_body2")
    assert bodies.names == ("Body1", "Body2")
    assert bodies.masses.tolist() == [1.0, 0.0123]
    assert bodies.positions.tolist() == [[-0.73, 0.0, 0.0], [60.34, 0.0, 0.0]]
    assert bodies.velocities.tolist() == [[0.0, -0.0015, 0.0], [0.0, 0.13, 0.0]]
    assert system_bodies("planet_satellite").names == default_bodies().names
    with pytest.raises(PropagationInputError, match="unknown system 'moon'; choose one of"):
        system_bodies("moon")


def test_default_system_is_the_original_initial_state():
    bodies = default_bodies()
    assert bodies.names == ("Planet", "Satellite")
    assert bodies.positions[:, :2].tolist() == [[0.0, 0.1], [0.0, 1.0]]
    assert bodies.velocities[:, :2].tolist() == [[0.1, 0.0], [1.0, 0.0]]


def test_same_input_gives_identical_arrays():
    b = default_bodies()
    first = propagate(b.positions[None], b.velocities[None], b.masses, 0.01, 200)
    second = propagate(b.positions[None], b.velocities[None], b.masses, 0.01, 200)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def _state():
    b = default_bodies()
    return b.positions[None].copy(), b.velocities[None].copy(), b.masses.copy()


def test_coincident_bodies_are_rejected():
    positions, velocities, masses = _state()
    positions[0, 1] = positions[0, 0]
    with pytest.raises(PropagationInputError, match="bodies 0 and 1 are coincident"):
        propagate(positions, velocities, masses, 0.01, 10)
    with pytest.raises(PropagationInputError, match="coincident"):
        Bodies(("a", "b"), np.ones(2), np.zeros((2, 3)), np.zeros((2, 3)))


@pytest.mark.parametrize("field", ["positions", "velocities", "masses"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_rejected(field, bad):
    positions, velocities, masses = _state()
    {"positions": positions[0], "velocities": velocities[0], "masses": masses[None]}[field][0, 0] = bad
    with pytest.raises(PropagationInputError, match=f"{field} contain non-finite"):
        propagate(positions, velocities, masses, 0.01, 10)


@pytest.mark.parametrize("mass", [0.0, -1.0])
def test_non_positive_mass_is_rejected(mass):
    positions, velocities, masses = _state()
    masses[1] = mass
    with pytest.raises(PropagationInputError, match="masses must be positive"):
        propagate(positions, velocities, masses, 0.01, 10)


@pytest.mark.parametrize("dt", [0.0, -0.01, np.nan, np.inf])
def test_bad_time_step_is_rejected(dt):
    with pytest.raises(PropagationInputError, match="time step dt must be a positive finite number"):
        propagate(*_state(), dt, 10)


def test_unknown_method_is_rejected():
    with pytest.raises(PropagationInputError, match="unknown method 'euler'"):
        propagate(*_state(), 0.01, 10, "euler")


def test_state_overflowing_during_integration_names_the_step():
    # finite input that overflows on the first step: an error naming the step, not NaN output
    positions, velocities, masses = _state()
    velocities[0, 1] = [1e307, 0.0, 0.0]
    with pytest.raises(FloatingPointError, match="non-finite at step 1"):
        propagate(positions, velocities, masses, 100.0, 5)
