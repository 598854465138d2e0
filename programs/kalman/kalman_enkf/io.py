"""Reading and validating the input parquet files; writing the outputs.

prior.parquet        one row per ensemble member, one float column per state variable
                     (column order = position on the 1-D grid used for localization).
observations.parquet columns ``variable`` (a prior column name), ``value``, ``error_std``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kalman_enkf.config import InputError

OBSERVATION_COLUMNS = ("variable", "value", "error_std")


@dataclass(frozen=True)
class Problem:
    variables: list[str]
    prior: np.ndarray  # (members, state)
    obs_variables: list[str]
    obs_index: np.ndarray  # (m,) column index of each observed variable
    observations: np.ndarray  # (m,)
    error_std: np.ndarray  # (m,)


def _read_parquet(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"{what} file {path} is not readable parquet: {exc}") from None


def read_problem(prior_path: Path, observations_path: Path) -> Problem:
    prior = _read_parquet(prior_path, "prior")
    if prior.shape[1] == 0:
        raise InputError("prior has no state columns")
    non_numeric = [c for c in prior.columns if not pd.api.types.is_numeric_dtype(prior[c])]
    if non_numeric:
        raise InputError(f"prior columns must be numeric; not numeric: {non_numeric[:5]}")
    if prior.shape[0] < 2:
        raise InputError(f"prior ensemble needs at least 2 members, got {prior.shape[0]}")
    values = prior.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        member, column = np.argwhere(bad)[0]
        raise InputError(
            f"prior contains NaN/inf ({int(bad.sum())} values), first at member {member}, "
            f"variable {prior.columns[column]!r}"
        )

    obs = _read_parquet(observations_path, "observations")
    missing = [c for c in OBSERVATION_COLUMNS if c not in obs.columns]
    if missing:
        raise InputError(f"observations missing columns {missing}; need {list(OBSERVATION_COLUMNS)}")
    if len(obs) == 0:
        raise InputError("observations are empty")
    variables = [str(c) for c in prior.columns]
    position = {name: i for i, name in enumerate(variables)}
    obs_variables = obs["variable"].astype(str).tolist()
    unknown = sorted(set(obs_variables) - set(position))
    if unknown:
        raise InputError(f"observations refer to variables not in the prior (shape mismatch): {unknown[:5]}")
    try:
        value = obs["value"].to_numpy(dtype=float)
        error_std = obs["error_std"].to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"observation value/error_std must be numeric: {exc}") from None
    if not np.isfinite(value).all():
        raise InputError(
            f"observation values contain NaN/inf at rows {np.flatnonzero(~np.isfinite(value))[:5].tolist()}"
        )
    if not (np.isfinite(error_std) & (error_std > 0)).all():
        rows = np.flatnonzero(~(np.isfinite(error_std) & (error_std > 0)))[:5].tolist()
        raise InputError(f"observation error_std must be positive and finite; bad rows {rows}")

    return Problem(
        variables=variables,
        prior=values,
        obs_variables=obs_variables,
        obs_index=np.array([position[v] for v in obs_variables], dtype=np.intp),
        observations=value,
        error_std=error_std,
    )


def summary_frame(problem: Problem, posterior: np.ndarray) -> pd.DataFrame:
    """Per state variable: prior and posterior mean and spread (ensemble std)."""
    return pd.DataFrame(
        {
            "variable": problem.variables,
            "prior_mean": problem.prior.mean(axis=0),
            "prior_std": problem.prior.std(axis=0, ddof=1),
            "posterior_mean": posterior.mean(axis=0),
            "posterior_std": posterior.std(axis=0, ddof=1),
        }
    )


def innovation_frame(problem: Problem, posterior: np.ndarray) -> pd.DataFrame:
    """Per observation: innovation d = y - H mean(prior), its normalization by the
    predicted spread sqrt(HPH^T + R), and the posterior residual."""
    predicted = problem.prior[:, problem.obs_index]
    prior_spread = predicted.std(axis=0, ddof=1)
    innovation = problem.observations - predicted.mean(axis=0)
    return pd.DataFrame(
        {
            "variable": problem.obs_variables,
            "value": problem.observations,
            "error_std": problem.error_std,
            "prior_mean": predicted.mean(axis=0),
            "prior_spread": prior_spread,
            "innovation": innovation,
            "normalized_innovation": innovation / np.sqrt(prior_spread**2 + problem.error_std**2),
            "posterior_mean": posterior[:, problem.obs_index].mean(axis=0),
            "posterior_residual": problem.observations - posterior[:, problem.obs_index].mean(axis=0),
        }
    )


def write_outputs(output_dir: Path, problem: Problem, posterior: np.ndarray) -> dict[str, pd.DataFrame]:
    output_dir.mkdir(parents=True, exist_ok=True)
    frames = {
        "posterior": pd.DataFrame(posterior, columns=problem.variables),
        "summary": summary_frame(problem, posterior),
        "innovations": innovation_frame(problem, posterior),
    }
    for name, frame in frames.items():
        frame.to_parquet(output_dir / f"{name}.parquet", index=False)
    return frames
