"""The external program on its own: numerics against a known truth and the exact Kalman
filter, and its command-line behaviour on bad input (run as a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from filterpy.kalman import KalmanFilter

from kalman_enkf.analysis import Localization, es_mda, gaspari_cohn
from platform_assets.kalman.demo import DEMO_CASES, case_files, make_case

pytestmark = pytest.mark.slow  # runs the external program

PROGRAM = str(Path(sys.executable).with_name("kalman-enkf"))
# The console script runs this checkout's source (`programs/kalman`), wherever an editable
# install of the venv points.
SOURCE = Path(__file__).resolve().parents[2] / "programs" / "kalman"
PROGRAM_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SOURCE), os.environ.get("PYTHONPATH")]))}


def write_case(folder: Path, case) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in case_files(case).items():
        (folder / name).write_bytes(data)
    return folder / "config.json"


def run_program(config: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PROGRAM, "iterate", "--config-file", str(config), "--output-dir", str(out)],
        capture_output=True,
        text=True,
        env=PROGRAM_ENV,
    )


def rmse(estimate: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((estimate - truth) ** 2)))


@pytest.mark.parametrize("case_name", sorted(DEMO_CASES))
@pytest.mark.parametrize("extra", [{}, {"localization_radius": 12.0, "es_mda_iterations": 3}])
def test_posterior_is_closer_to_truth_than_prior(tmp_path, case_name, extra):
    case = make_case(DEMO_CASES[case_name], config=extra)
    result = run_program(write_case(tmp_path / "case", case), tmp_path / "out")
    assert result.returncode == 0, result.stderr

    posterior = pd.read_parquet(tmp_path / "out" / "posterior.parquet")
    assert list(posterior.columns) == list(case.prior.columns)
    assert posterior.shape == case.prior.shape
    prior_error = rmse(case.prior.to_numpy().mean(axis=0), case.truth)
    posterior_error = rmse(posterior.to_numpy().mean(axis=0), case.truth)
    assert posterior_error < prior_error
    summary = pd.read_parquet(tmp_path / "out" / "summary.parquet")
    assert (summary["posterior_std"] <= summary["prior_std"] * 1.05).mean() > 0.9


@pytest.mark.parametrize("iterations", [1, 4])
def test_large_ensemble_approaches_exact_kalman_filter(iterations):
    """Linear-Gaussian problem: the stochastic EnKF (and ES-MDA) posterior mean and covariance
    converge to the Kalman filter update of the ensemble's own prior moments."""
    rng = np.random.default_rng(7)
    n, members = 8, 40_000
    case = make_case(3, n_state=n, n_members=members, obs_every=3, obs_error=0.5, length_scale=2.0)
    prior = case.prior.to_numpy()
    obs_index = np.array([case.prior.columns.get_loc(v) for v in case.observations["variable"]])
    y = case.observations["value"].to_numpy()
    error_std = case.observations["error_std"].to_numpy()

    kf = KalmanFilter(dim_x=n, dim_z=y.size)
    kf.x = prior.mean(axis=0)
    kf.P = np.cov(prior, rowvar=False)
    kf.H = np.eye(n)[obs_index]
    kf.R = np.diag(error_std**2)
    kf.update(y)

    posterior = es_mda(prior, y, obs_index, error_std, rng, iterations=iterations)
    mean_error = posterior.mean(axis=0) - kf.x
    standard_error = np.sqrt(np.diag(kf.P) / members)
    assert np.all(np.abs(mean_error) < 5 * standard_error + 1e-3)
    cov = np.cov(posterior, rowvar=False)
    assert np.linalg.norm(cov - kf.P) / np.linalg.norm(kf.P) < 0.05
    # the update must actually have moved the ensemble (guards against a no-op analysis)
    assert np.linalg.norm(kf.P) < 0.9 * np.linalg.norm(np.cov(prior, rowvar=False))


def test_gaspari_cohn_taper_shape():
    taper = gaspari_cohn(np.array([0.0, 2.5, 5.0, 7.5, 10.0, 12.0]), radius=10.0)
    assert taper[0] == pytest.approx(1.0)
    assert np.all(np.diff(taper[:5]) < 0)
    assert taper[4] == pytest.approx(0.0, abs=1e-12) and taper[5] == 0.0


def test_localization_leaves_distant_variables_untouched():
    case = make_case(5, n_state=60, n_members=30, obs_every=60)  # one observation at x000
    prior = case.prior.to_numpy()
    positions = np.arange(60, dtype=float)
    localization = Localization.for_positions(positions, positions[[0]], radius=10.0)
    posterior = es_mda(
        prior,
        case.observations["value"].to_numpy(),
        np.array([0]),
        case.observations["error_std"].to_numpy(),
        np.random.default_rng(1),
        localization=localization,
    )
    np.testing.assert_array_equal(posterior[:, 10:], prior[:, 10:])
    assert not np.allclose(posterior[:, 0], prior[:, 0])


def test_unseeded_runs_differ_and_seeded_runs_repeat(tmp_path):
    case = make_case(1, n_state=10, n_members=20)
    config = write_case(tmp_path / "case", case)
    runs = {}
    for label, seed in [("a", None), ("b", None), ("c", 5), ("d", 5)]:
        data = json.loads(config.read_text()) | {"seed": seed}
        config.write_text(json.dumps(data))
        assert run_program(config, tmp_path / label).returncode == 0
        runs[label] = pd.read_parquet(tmp_path / label / "posterior.parquet").to_numpy()
    assert not np.array_equal(runs["a"], runs["b"])
    np.testing.assert_array_equal(runs["c"], runs["d"])


def _nan_prior(folder: Path):
    prior = pd.read_parquet(folder / "prior.parquet")
    prior.iloc[3, 2] = np.nan
    prior.to_parquet(folder / "prior.parquet")


def _extra_variable(folder: Path):
    obs = pd.read_parquet(folder / "observations.parquet")
    obs.loc[0, "variable"] = "no_such_variable"
    obs.to_parquet(folder / "observations.parquet")


def _zero_error(folder: Path):
    obs = pd.read_parquet(folder / "observations.parquet")
    obs.loc[1, "error_std"] = 0.0
    obs.to_parquet(folder / "observations.parquet")


def _patch_config(**changes):
    def patch(folder: Path):
        path = folder / "config.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | changes))

    return patch


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (_nan_prior, "prior contains NaN"),
        (_extra_variable, "not in the prior (shape mismatch): ['no_such_variable']"),
        (_zero_error, "error_std must be positive"),
        (lambda f: (f / "observations.parquet").unlink(), "observations file not found"),
        (_patch_config(inflation=-1), "'inflation' must be > 0"),
        (_patch_config(es_mda_iterations=1.5), "'es_mda_iterations' must be a int"),
        (_patch_config(localisation=3), "unknown keys ['localisation']"),
        (lambda f: (f / "config.json").write_text("{not json"), "is not valid JSON"),
    ],
)
def test_invalid_input_exits_nonzero_naming_the_problem(tmp_path, corrupt, message):
    config = write_case(tmp_path / "case", make_case(2, n_state=10, n_members=8))
    corrupt(tmp_path / "case")
    result = run_program(config, tmp_path / "out")
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "out" / "posterior.parquet").exists()


def test_relative_output_paths_follow_cwd_for_cli_and_env_and_config_folder_for_config(tmp_path):
    """--output-dir and $OUTPUT_PATH are relative to the current directory (like any CLI);
    only paths inside the config file are relative to the config's folder."""
    config = write_case(tmp_path / "case", make_case(2, n_state=10, n_members=8))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    command = [PROGRAM, "iterate", "--config-file", str(config)]
    env = {k: v for k, v in PROGRAM_ENV.items() if k != "OUTPUT_PATH"}

    assert subprocess.run([*command, "--output-dir", "cli-out"], cwd=cwd, env=env).returncode == 0
    assert (cwd / "cli-out" / "posterior.parquet").is_file()

    assert subprocess.run(command, cwd=cwd, env=env | {"OUTPUT_PATH": "env-out"}).returncode == 0
    assert (cwd / "env-out" / "posterior.parquet").is_file()

    config.write_text(json.dumps(json.loads(config.read_text()) | {"output_dir": "config-out"}))
    assert subprocess.run(command, cwd=cwd, env=env).returncode == 0
    assert (tmp_path / "case" / "config-out" / "posterior.parquet").is_file()
    assert not (cwd / "config-out").exists()
    assert not (tmp_path / "case" / "cli-out").exists() and not (tmp_path / "case" / "env-out").exists()


def test_inflation_widens_the_posterior_spread():
    """Multiplicative prior inflation > 1 must leave a wider posterior ensemble (same
    perturbations, so the difference is the inflation alone)."""
    case = make_case(6, n_state=20, n_members=40, obs_every=5)
    prior = case.prior.to_numpy()
    obs_index = np.array([case.prior.columns.get_loc(v) for v in case.observations["variable"]])
    args = (prior, case.observations["value"].to_numpy(), obs_index, case.observations["error_std"].to_numpy())
    spread = {
        inflation: es_mda(*args, np.random.default_rng(3), inflation=inflation).std(axis=0, ddof=1)
        for inflation in (1.0, 1.5)
    }
    assert np.all(spread[1.5] > spread[1.0])
    assert spread[1.5].mean() > 1.2 * spread[1.0].mean()


def _point_prior_at(value_for):
    """Config 'prior' rewritten to ``value_for(case_folder)``: another case's file."""

    def patch(folder: Path):
        path = folder / "config.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | {"prior": value_for(folder)}))

    return patch


def _symlink_prior_out(folder: Path):
    (folder / "prior.parquet").unlink()
    (folder / "prior.parquet").symlink_to(folder.parent / "case-a" / "prior.parquet")


@pytest.mark.parametrize(
    "attack, message",
    [
        (
            _point_prior_at(lambda f: str(f.parent / "case-a" / "prior.parquet")),
            "config 'prior' must be a path inside the config file's folder",
        ),
        (_point_prior_at(lambda f: "../case-a/prior.parquet"), "config 'prior' must be a path inside"),
        (_symlink_prior_out, "config 'prior' = 'prior.parquet' leads outside the config file's folder"),
        (_patch_config(output_dir="../case-a/out"), "config 'output_dir' must be a path inside"),
    ],
)
def test_a_case_cannot_read_or_write_another_cases_files(tmp_path, attack, message):
    """Declared inputs only: a config naming a file of another case (absolute, climbing out
    with '..', or through a symbolic link) fails with exit 2 and a message naming the key, even
    though the file exists and is a valid prior."""
    write_case(tmp_path / "case-a", make_case(1, n_state=10, n_members=8))
    config = write_case(tmp_path / "case-b", make_case(2, n_state=10, n_members=8))
    config.write_text(json.dumps(json.loads(config.read_text()) | {"output_dir": "out"}))
    attack(tmp_path / "case-b")
    result = subprocess.run(
        [PROGRAM, "iterate", "--config-file", str(config)], capture_output=True, text=True, env=PROGRAM_ENV
    )
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert not list(tmp_path.rglob("posterior.parquet"))
