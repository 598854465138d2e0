"""The compiled kernel against the numpy reference, the merge tree, and lazy numba."""

import subprocess
import sys
from pathlib import Path

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

from platform_assets.propagation import ensemble
from platform_assets.propagation.ensemble import (
    EnsembleSpec,
    RunState,
    initial_ensemble,
    propagate_chunk,
    propagate_ensemble,
    run_ensemble,
)
from platform_assets.propagation.model import Bodies, PropagationInputError, default_bodies, propagate

PROPERTY = hypothesis.settings(max_examples=25, derandomize=True, deadline=None)
REPO_ROOT = Path(__file__).resolve().parents[2]


def bodies_strategy() -> st.SearchStrategy[Bodies]:
    """2 to 4 bodies on well separated orbits around a heavy first one (no close encounters)."""

    @st.composite
    def build(draw):
        n = draw(st.integers(2, 4))
        masses = [1.0] + [draw(st.floats(1e-6, 0.05)) for _ in range(n - 1)]
        radii = [0.0] + [1.0 + 1.5 * i + draw(st.floats(0.0, 0.5)) for i in range(n - 1)]
        angles = [draw(st.floats(0.0, 2 * np.pi)) for _ in range(n)]
        positions = [
            [r * np.cos(a), r * np.sin(a), draw(st.floats(-0.05, 0.05))] for r, a in zip(radii, angles, strict=True)
        ]
        velocities = [[0.0, 0.0, 0.0]] + [
            [-np.sin(a) / np.sqrt(r), np.cos(a) / np.sqrt(r), 0.0] for r, a in zip(radii[1:], angles[1:], strict=True)
        ]
        return Bodies(tuple(f"b{i}" for i in range(n)), np.array(masses), np.array(positions), np.array(velocities))

    return build()


@PROPERTY
@hypothesis.given(
    bodies=bodies_strategy(),
    members=st.integers(1, 9),
    steps=st.integers(0, 60),
    method=st.sampled_from(["verlet", "rk4"]),
    seed=st.integers(0, 2**31),
)
def test_compiled_trajectories_equal_the_numpy_reference_bit_for_bit(bodies, members, steps, method, seed):
    """Invariant: for any 2-4 body system, ensemble, step count and method, the compiled
    integrator reproduces the numpy reference's trajectories exactly (same operations in the
    same order), so the kernel changes no state, only the speed."""
    spec = EnsembleSpec(members, 1e-3, 1e-3, seed, members)
    p0, v0 = initial_ensemble(bodies, spec)
    reference = propagate(p0, v0, bodies.masses, 0.01, steps, method, kernel="numpy")
    fast = propagate(p0, v0, bodies.masses, 0.01, steps, method, kernel="numba")
    assert np.array_equal(reference[0], fast[0]) and np.array_equal(reference[1], fast[1])


@PROPERTY
@hypothesis.given(
    bodies=bodies_strategy(),
    members=st.integers(2, 20),
    steps=st.integers(1, 40),
    method=st.sampled_from(["verlet", "rk4"]),
    seed=st.integers(0, 2**31),
)
def test_fused_moments_agree_with_the_numpy_reference(bodies, members, steps, method, seed):
    """Invariant: the fused kernel's final states equal the reference's bit for bit and its
    per-step mean and M2 agree to 1e-12 of their scale (only the summation order differs)."""
    p0, v0 = initial_ensemble(bodies, EnsembleSpec(members, 1e-3, 1e-3, seed, members))
    reference = propagate_chunk(p0, v0, bodies.masses, 0.01, steps, method, kernel="numpy")
    fast = propagate_chunk(p0, v0, bodies.masses, 0.01, steps, method, kernel="numba")
    assert np.array_equal(reference.final_positions, fast.final_positions)
    assert np.array_equal(reference.final_velocities, fast.final_velocities)
    np.testing.assert_allclose(fast.mean, reference.mean, rtol=0, atol=1e-12 * np.abs(reference.mean).max())
    np.testing.assert_allclose(fast.m2, reference.m2, rtol=0, atol=1e-12 * np.abs(reference.m2).max())
    np.testing.assert_array_equal(p0, initial_ensemble(bodies, EnsembleSpec(members, 1e-3, 1e-3, seed, members))[0])


@pytest.mark.parametrize("method", ["verlet", "rk4"])
def test_resume_equals_from_scratch_bit_for_bit_with_the_compiled_kernel(method):
    spec = EnsembleSpec(24, 1e-3, 1e-3, 7, 5)
    first = propagate_ensemble(default_bodies(), spec, 0.01, 40, method, kernel="numba")
    resumed = propagate_ensemble(
        default_bodies(), spec, 0.01, 40, method, start=RunState.from_npz(first.to_npz()), kernel="numba"
    )
    scratch = propagate_ensemble(default_bodies(), spec, 0.01, 80, method, kernel="numba")
    for name in ("nominal_positions", "mean", "covariance", "final_positions", "final_velocities"):
        assert np.array_equal(getattr(resumed, name), getattr(scratch, name)), name


def test_the_merge_tree_does_not_depend_on_how_chunks_are_grouped_into_tasks():
    """Any task depth (one task, a few subtrees, every chunk alone) merges to the same bits."""
    bodies = default_bodies()
    p0, v0 = initial_ensemble(bodies, EnsembleSpec(23, 1e-3, 1e-3, 3, 3))  # 8 chunks, the last one short
    bounds = ensemble.chunk_bounds(23, 3)
    chunks = (p0, v0, bodies.masses, 0.01, 30, "verlet", "numba", bounds)
    whole = ensemble._subtree(0, len(bounds), *chunks)
    for depth in range(5):
        nodes = ensemble.tree_nodes(0, len(bounds), depth)
        assert [lo for lo, _ in nodes] == sorted(lo for lo, _ in nodes) and nodes[-1][1] == len(bounds)
        done = {(lo, hi): ensemble._subtree(lo, hi, *ensemble._slice(chunks, lo, hi)) for lo, hi in nodes}
        merged = ensemble.reduce_tree(0, len(bounds), lambda lo, hi, done=done: done.get((lo, hi)), "numba")
        assert np.array_equal(merged.m2, whole.m2) and np.array_equal(merged.mean, whole.mean), depth
        assert np.array_equal(merged.final_positions, whole.final_positions)


def test_the_compiled_merge_gives_the_bits_of_the_numpy_merge():
    bodies = default_bodies()
    p0, v0 = initial_ensemble(bodies, EnsembleSpec(13, 1e-3, 1e-3, 4, 13))
    a = propagate_chunk(p0[:5], v0[:5], bodies.masses, 0.01, 20, "verlet")
    b = propagate_chunk(p0[5:], v0[5:], bodies.masses, 0.01, 20, "verlet")
    reference = ensemble.merge_pair(a, b, "numpy")
    a.mean.flags.writeable = False  # as results received from a Dask worker can be
    fast = ensemble.merge_pair(a, b, "numba")
    assert fast.count == reference.count == 13
    for name in ("mean", "m2", "final_positions", "final_velocities"):
        assert np.array_equal(getattr(fast, name), getattr(reference, name)), name


@pytest.mark.parametrize("kernel", ["numba", "numpy"])
def test_dask_tasks_of_several_chunks_equal_in_process(dask_client, monkeypatch, kernel):
    """On a real 2-process LocalCluster, with tasks of several chunks each, bit for bit."""
    monkeypatch.setattr(ensemble, "TASK_SECONDS", 1e-9)  # many small tasks
    bodies = default_bodies()
    p0, v0 = initial_ensemble(bodies, EnsembleSpec(40, 1e-3, 1e-3, 5, 3))
    args = (p0, v0, bodies.masses, 0.01, 25, "verlet", 3)
    local = run_ensemble(*args, kernel=kernel)
    distributed = run_ensemble(*args, client=dask_client, kernel=kernel)
    for name in ("mean", "covariance", "final_positions", "final_velocities"):
        assert np.array_equal(getattr(local, name), getattr(distributed, name)), name


def test_task_depth_gives_each_task_enough_work_and_every_worker_a_task():
    assert ensemble.task_depth(chunks=64, seconds=0.05, workers=2) == 0  # too little work: one task
    assert ensemble.task_depth(chunks=64, seconds=3.0, workers=2) == 5  # ~0.1 s per task: 30 -> 32 tasks
    assert ensemble.task_depth(chunks=4, seconds=100.0, workers=2) == 2  # never more tasks than chunks
    assert ensemble.task_depth(chunks=64, seconds=1.0, workers=16) == 4  # one per worker once Dask pays


def test_a_state_that_overflows_names_the_step_with_the_compiled_kernel():
    bodies = default_bodies()
    positions, velocities = bodies.positions[None].copy(), bodies.velocities[None].copy()
    velocities[0, 1] = [1e307, 0.0, 0.0]
    with pytest.raises(FloatingPointError, match="non-finite at step 1"):
        propagate_chunk(positions, velocities, bodies.masses, 100.0, 5, "verlet", kernel="numba")
    with pytest.raises(FloatingPointError, match="non-finite at step 1"):
        propagate(positions, velocities, bodies.masses, 100.0, 5, kernel="numba")


def test_an_unknown_kernel_is_rejected():
    bodies = default_bodies()
    with pytest.raises(PropagationInputError, match="unknown kernel 'fortran'; choose one of"):
        propagate(bodies.positions[None], bodies.velocities[None], bodies.masses, 0.01, 3, kernel="fortran")


@pytest.mark.slow  # a fresh interpreter
def test_loading_the_code_location_does_not_import_numba():
    probe = "import sys, platform_assets.definitions; print('numba' in sys.modules, 'llvmlite' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
