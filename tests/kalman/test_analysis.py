"""The analysis math and the process's BLAS: the fast EnKF formulation against the textbook
Kalman-gain formula, Cholesky against LU solves, and the BLAS thread pinning (in-process and
in the real program)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

from kalman_enkf import blas
from kalman_enkf.analysis import Localization, analysis_flops, enkf_analysis, ensemble_space
from kalman_enkf.config import InputError
from platform_assets.kalman.demo import make_case
from tests.kalman.test_program import write_case

PROPERTY = hypothesis.settings(max_examples=40, derandomize=True, deadline=None)


def textbook_enkf(ensemble, observations, obs_index, error_std, noise, alpha=1.0, localization=None):
    """X_a = X + (y + e - H X) (rho_yy o H P H^T + alpha R)^-1 (rho_xy o P H^T)^T, written
    out with explicit covariances and an explicit inverse: the formula, not the fast path."""
    members = ensemble.shape[0]
    anomalies = ensemble - ensemble.mean(axis=0)
    cov = anomalies.T @ anomalies / (members - 1)  # P, (n, n)
    cross = cov[:, obs_index]  # P H^T
    obs_cov = cov[np.ix_(obs_index, obs_index)]  # H P H^T
    if localization is not None:
        cross = cross * localization.state_obs
        obs_cov = obs_cov * localization.obs_obs
    gain = cross @ np.linalg.inv(obs_cov + alpha * np.diag(error_std**2))
    perturbed = observations + noise * (np.sqrt(alpha) * error_std) - ensemble[:, obs_index]
    return ensemble + perturbed @ gain.T


def random_problem(seed: int, n: int, m: int, members: int):
    rng = np.random.default_rng(seed)
    ensemble = 5.0 + rng.standard_normal((members, n)) * rng.uniform(0.5, 2.0, n)
    obs_index = np.sort(rng.choice(n, size=m, replace=False))
    return ensemble, rng.standard_normal(m), obs_index, rng.uniform(0.2, 2.0, m)


@PROPERTY
@hypothesis.given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 60),
    m_fraction=st.floats(0.05, 1.0),
    members=st.integers(3, 80),
    alpha=st.sampled_from([1.0, 3.0]),
    localized=st.booleans(),
    cholesky=st.booleans(),
)
def test_fast_update_equals_the_textbook_kalman_gain_formula(seed, n, m_fraction, members, alpha, localized, cholesky):
    """Invariant: for any state size, observation count, ensemble size, ES-MDA alpha, with or
    without localization and with Cholesky or LU solves, the analysis equals the textbook
    formula with the same perturbations to 1e-9 of the ensemble's scale. The sizes cover both
    systems (ensemble space when N is small against m, observation space otherwise)."""
    m = max(1, round(m_fraction * n))
    ensemble, observations, obs_index, error_std = random_problem(seed, n, m, members)
    localization = None
    if localized:
        positions = np.arange(n, dtype=float)
        localization = Localization.for_positions(positions, positions[obs_index], radius=max(2.0, n / 4))
    noise = np.random.default_rng(seed).standard_normal((members, m))

    fast = enkf_analysis(
        ensemble,
        observations,
        obs_index,
        error_std,
        np.random.default_rng(seed),
        alpha=alpha,
        localization=localization,
        cholesky=cholesky,
    )
    expected = textbook_enkf(ensemble, observations, obs_index, error_std, noise, alpha, localization)
    np.testing.assert_allclose(fast, expected, rtol=0, atol=1e-9 * np.abs(ensemble).max())


@pytest.mark.parametrize("n, m, members", [(50, 40, 10), (50, 5, 40)])  # ensemble space, observation space
def test_both_systems_are_exercised_and_cholesky_matches_lu(n, m, members):
    assert ensemble_space(members, m) == (members < m)
    ensemble, observations, obs_index, error_std = random_problem(1, n, m, members)
    runs = [
        enkf_analysis(ensemble, observations, obs_index, error_std, np.random.default_rng(2), cholesky=cholesky)
        for cholesky in (True, False)
    ]
    assert blas.cholesky_available()  # numpy's LAPACK was found and bound: the Cholesky path ran
    np.testing.assert_allclose(runs[0], runs[1], rtol=0, atol=1e-12 * np.abs(ensemble).max())
    assert not np.allclose(runs[0], ensemble)  # the update moved the ensemble


@PROPERTY
@hypothesis.given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 40), rhs=st.integers(1, 40))
def test_cholesky_solve_agrees_with_lu_solve(seed, size, rhs):
    """Invariant: for any symmetric positive definite matrix and right-hand sides, the
    Cholesky solve through numpy's LAPACK equals numpy's LU solve to 1e-12 (relative to the
    solution) and leaves its arguments untouched."""
    rng = np.random.default_rng(seed)
    factor = rng.standard_normal((size, size + 2))
    matrix = factor @ factor.T / size + np.eye(size)
    rows = rng.standard_normal((rhs, size))
    before = matrix.copy(), rows.copy()
    cholesky = blas.spd_solve(matrix, rows)
    lu = np.linalg.solve(matrix, rows.T).T
    np.testing.assert_allclose(cholesky, lu, rtol=0, atol=1e-12 * np.abs(lu).max())
    np.testing.assert_array_equal(matrix, before[0])
    np.testing.assert_array_equal(rows, before[1])


def test_a_matrix_that_is_not_positive_definite_falls_back_to_lu():
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
    rows = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
    solution = blas.spd_solve(indefinite, rows)
    np.testing.assert_allclose(solution @ indefinite, rows, atol=1e-12)


def test_analysis_flops_follow_the_path_taken():
    """The benchmark's flop count: the cheaper system, and the localized path costs more."""
    n, m, members = 1000, 200, 100
    assert ensemble_space(members, m) and not ensemble_space(members, 10)
    unlocalized = analysis_flops(n, m, members)
    assert unlocalized == members * members * m + 2 * members**2 * m + members**3 / 3 + 2 * members**3 + 2 * (
        members**2 * n
    )
    assert analysis_flops(n, m, members, localized=True) > unlocalized


# ---- threads ----------------------------------------------------------------------------
def test_requested_threads_follow_the_override_then_the_standard_variables_then_the_cpus():
    assert blas.requested_threads({blas.THREADS_ENV: "3"}) == 3
    assert blas.requested_threads({blas.THREADS_ENV: "3", "OPENBLAS_NUM_THREADS": "1"}) == 3
    assert blas.requested_threads({"OMP_NUM_THREADS": "1"}) is None  # the user chose: left alone
    assert blas.requested_threads({}) in range(1, len(os.sched_getaffinity(0)) + 1)
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(InputError, match=f"{blas.THREADS_ENV} must be a positive integer"):
            blas.requested_threads({blas.THREADS_ENV: bad})


def test_available_cpus_are_the_affinity_capped_by_a_quota_or_else_by_the_idle_cpus():
    cpus = len(os.sched_getaffinity(0))
    assert blas.available_cpus(load=0.5, quota=None) == cpus  # an idle machine: every CPU
    assert blas.available_cpus(load=1.0, quota=None) == cpus  # the load of this process alone
    assert blas.available_cpus(load=cpus + 1.0, quota=None) == 1  # every other core busy: one
    assert blas.available_cpus(load=100.0, quota=None) == 1
    assert blas.available_cpus(load=100.0, quota=1.5) == 1  # a container: its limit, not the load
    assert blas.available_cpus(load=100.0, quota=64.0) == cpus  # (the node's load is not ours)
    assert blas.available_cpus(load=0.0, quota=0.5) == 1


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"proc/self/cgroup": "0::/kubepods/pod1\n", "sys/fs/cgroup/kubepods/pod1/cpu.max": "150000 100000\n"}, 1.5),
        ({"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "max 100000\n"}, None),
        ({"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "200000", "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000"}, 2.0),
        ({"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1", "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000"}, None),
        ({}, None),
    ],
)
def test_cgroup_cpu_limit_reads_v2_and_v1_quotas(tmp_path, files, expected):
    for name, text in files.items():
        _write(tmp_path / name, text)
    assert blas.cgroup_cpu_limit(tmp_path) == expected


def test_pin_threads_sets_every_blas_pool():
    from threadpoolctl import threadpool_info

    before = {p["filepath"]: p["num_threads"] for p in threadpool_info()}
    try:
        pools = blas.pin_threads(1)
        assert pools and all(p["num_threads"] == 1 for p in pools if p["user_api"] == "blas")
    finally:
        from threadpoolctl import threadpool_limits

        for p in threadpool_info():
            threadpool_limits(before.get(p["filepath"], p["num_threads"]), user_api=p["user_api"])


@pytest.mark.slow  # runs the external program
@pytest.mark.parametrize(
    "env, cpus, threads",
    [({}, {0}, 1), ({blas.THREADS_ENV: "2"}, {0}, 2), ({blas.THREADS_ENV: "3"}, None, 3)],
)
def test_the_program_pins_blas_threads_to_its_cpus_and_loads_one_blas(tmp_path, env, cpus, threads):
    """The program itself pins its BLAS: to the CPUs it may run on (affinity 1 CPU -> 1
    thread, whatever the machine has), unless KALMAN_ENKF_THREADS says otherwise; and it
    loads exactly one BLAS library (no scipy next to numpy), both reported on its last line."""
    config = write_case(tmp_path / "case", make_case(4, n_state=30, n_members=12))
    base = {k: v for k, v in os.environ.items() if k not in (blas.THREADS_ENV, *blas.STANDARD_THREAD_ENVS)}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("kalman-enkf")), "iterate", "--config-file", str(config)],
        env=base | env | {"OUTPUT_PATH": str(tmp_path / "out")},
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    reported = result.stdout.strip().splitlines()[-1].split("; BLAS ")[1]
    assert reported.count(" x") == 1, reported  # one library
    assert reported.startswith("openblas") and reported.endswith(f" x{threads}")
