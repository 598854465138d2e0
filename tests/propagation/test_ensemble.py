"""Ensemble: determinism, resume == from scratch, Dask == in-process, output formats."""

import json

import numpy as np
import pytest

from platform_assets.propagation import records
from platform_assets.propagation.ensemble import EnsembleSpec, RunState, propagate_ensemble
from platform_assets.propagation.model import PropagationInputError, default_bodies

SPEC = EnsembleSpec(size=24, position_sigma=1e-3, velocity_sigma=1e-3, seed=7, chunk_size=5)
BODIES = default_bodies()


def run(steps, client=None, start=None, spec=SPEC, method="verlet"):
    return propagate_ensemble(BODIES, spec, 0.01, steps, method, client=client, start=start)


def assert_same_run(a: RunState, b: RunState, atol=0.0):
    for name in (
        "nominal_positions",
        "nominal_velocities",
        "mean",
        "covariance",
        "final_positions",
        "final_velocities",
    ):
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape, name
        np.testing.assert_allclose(x, y, rtol=0, atol=atol, err_msg=name)


def test_same_config_gives_identical_arrays():
    assert_same_run(run(60), run(60))


def test_another_seed_gives_another_ensemble_but_the_same_nominal():
    other = run(60, spec=EnsembleSpec(24, 1e-3, 1e-3, 8, 5))
    base = run(60)
    assert np.array_equal(other.nominal_positions, base.nominal_positions)
    assert not np.array_equal(other.mean, base.mean)


def test_moments_match_numpy_over_all_members():
    """The chunked, merged mean/covariance equal numpy's over the full ensemble."""
    from platform_assets.propagation.ensemble import initial_ensemble, state_vectors
    from platform_assets.propagation.model import propagate

    result = run(30)
    p0, v0 = initial_ensemble(BODIES, SPEC)
    traj_p, traj_v = propagate(p0, v0, BODIES.masses, 0.01, 30)
    states = state_vectors(traj_p, traj_v)  # (S, K, D)
    np.testing.assert_allclose(result.mean, states.mean(axis=1), rtol=1e-12, atol=1e-15)
    expected_cov = np.stack([np.cov(states[s].T) for s in range(states.shape[0])])
    np.testing.assert_allclose(result.covariance, expected_cov, rtol=1e-9, atol=1e-18)
    assert np.array_equal(result.final_positions, traj_p[-1])


@pytest.mark.parametrize("method", ["verlet", "rk4"])
def test_resume_from_m_equals_from_scratch(method):
    first = run(40, method=method)
    resumed = run(40, start=RunState.from_npz(first.to_npz()), method=method)  # through the stored form
    assert resumed.steps == 80
    assert_same_run(resumed, run(80, method=method))  # bit for bit


def test_integrator_block_size_changes_no_bit(monkeypatch):
    """The moments are reduced block by block inside the integrator loop; where the blocks
    fall must not matter (resume relies on it: its blocks start at M, not at 0)."""
    from platform_assets.propagation import ensemble

    whole = run(70)
    monkeypatch.setattr(ensemble, "BLOCK_VALUES", 5 * 2 * 6 * 3)  # 3 steps per block of a 5-member chunk
    assert ensemble.block_steps_for(5, 2) == 3
    assert_same_run(run(70), whole)


def test_chunk_memory_does_not_grow_with_steps_times_members(monkeypatch):
    """A task holds the per-step moments and one block of steps, not the chunk's trajectory."""
    import tracemalloc

    from platform_assets.propagation import ensemble
    from platform_assets.propagation.ensemble import initial_ensemble, propagate_chunk

    monkeypatch.setattr(ensemble, "BLOCK_VALUES", 1 << 12)
    spec = EnsembleSpec(size=256, position_sigma=1e-3, velocity_sigma=1e-3, seed=1, chunk_size=256)
    p0, v0 = initial_ensemble(BODIES, spec)
    steps, d = 400, 12
    trajectory_bytes = 2 * (steps + 1) * p0.size * 8  # what keeping positions + velocities would take
    moments_bytes = (steps + 1) * (d + d * d) * 8
    tracemalloc.start()
    try:
        stats = propagate_chunk(p0, v0, BODIES.masses, 0.01, steps, "verlet")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.mean.shape == (steps + 1, d)
    assert trajectory_bytes > 4 * moments_bytes  # the comparison below means something
    assert peak < moments_bytes + trajectory_bytes / 4, (peak, moments_bytes, trajectory_bytes)


def test_dask_and_in_process_agree(dask_client):
    assert_same_run(run(50, client=dask_client), run(50))


def test_perturbation_that_makes_bodies_coincide_is_rejected():
    with pytest.raises(PropagationInputError, match="sigma must be a finite number >= 0"):
        EnsembleSpec(4, -1.0, 0.0, 0, 2)
    with pytest.raises(PropagationInputError, match="ensemble size must be >= 1"):
        EnsembleSpec(0, 0.0, 0.0, 0, 2)


def test_records_follow_the_original_range_store():
    result = run(10)
    table = records.trajectory_records(BODIES.names, 0.01, result.nominal_positions, result.nominal_velocities)
    assert table.column_names == ["step", "t_low", "t_high", "state"]
    assert table["t_low"][0].as_py() == -np.inf and table["t_high"][0].as_py() == 0.0
    # record [t_low, t_high) holds the state reached at t_high, as in the original store
    state = records.read_at(table, 0.0305)
    assert state["Satellite"]["x"] == result.nominal_positions[4, 1, 0]
    assert state["Satellite"]["time"] == pytest.approx(0.04)
    assert records.read_at(table, -5.0)["Planet"]["y"] == 0.1
    with pytest.raises(IndexError):
        records.read_at(table, 0.1)  # the last record ends at t_high = 0.1 (exclusive)
    parquet = records.read_parquet_bytes(records.to_parquet_bytes(table))
    assert parquet.equals(table)


def test_data_json_is_what_the_original_web_views_iterate():
    """Both pages do `for (let [t0, t1, frame] of data)`; the latest reads
    frame[agent].position/.velocity (x, y, z), mass, time, timeStep; the first frame[agent].x/.y."""
    result = run(5)
    args = (BODIES.names, BODIES.masses, 0.01, result.nominal_positions, result.nominal_velocities)
    web, flat = (json.loads(records.data_json(*args, layout=layout)) for layout in ("web", "flat"))
    assert len(web) == len(flat) == 6
    for data in (web, flat):
        t0, t1, frame = data[0]
        assert t0 is None and t1 == 0.0 and set(frame) == {"Planet", "Satellite"}
        assert [row[:2] for row in data[1:3]] == [[0.0, 0.01], [0.01, 0.02]]
    satellite = [frame["Satellite"] for _, _, frame in web]
    assert [s["position"]["x"] for s in satellite] == result.nominal_positions[:, 1, 0].tolist()
    assert [s["velocity"]["y"] for s in satellite] == result.nominal_velocities[:, 1, 1].tolist()
    assert (
        {s["mass"] for s in satellite} == {1e-6} and satellite[3]["time"] == 0.03 and satellite[3]["timeStep"] == 0.01
    )
    assert [frame["Satellite"]["x"] for _, _, frame in flat] == result.nominal_positions[:, 1, 0].tolist()
    with pytest.raises(ValueError, match="unknown data.json layout 'xml'"):
        records.data_json(*args, layout="xml")


def test_moments_table_holds_mean_and_covariance():
    result = run(5)
    table = records.moments_table(BODIES.names, 0.01, result.mean, result.covariance)
    assert table["mean_Satellite_vx"].to_pylist() == result.mean[:, 9].tolist()
    cov = np.array(table["covariance"].to_pylist()).reshape(result.covariance.shape)
    assert np.array_equal(cov, result.covariance)
