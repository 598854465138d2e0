"""Synthetic data-assimilation cases with a known truth (demo and truth tests).

Linear-Gaussian model on a 1-D grid: the truth and the prior members are independent draws
from N(mean, P) with a squared-exponential covariance P; every ``obs_every``-th grid cell is
observed with Gaussian noise. Because the truth is known, the posterior error can be
compared with the prior error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

DEMO_CASES = {"demo-smooth": 11, "demo-sparse": 12}  # case name -> generator seed


@dataclass(frozen=True)
class DemoCase:
    config: dict
    prior: pd.DataFrame
    observations: pd.DataFrame
    truth: np.ndarray


def prior_covariance(n_state: int, length_scale: float, std: float) -> np.ndarray:
    grid = np.arange(n_state, dtype=float)
    cov = std**2 * np.exp(-0.5 * ((grid[:, None] - grid[None, :]) / length_scale) ** 2)
    return cov + 1e-8 * np.eye(n_state)


def make_case(
    seed: int,
    *,
    n_state: int = 40,
    n_members: int = 60,
    obs_every: int = 4,
    obs_error: float = 0.3,
    length_scale: float = 4.0,
    config: dict | None = None,
) -> DemoCase:
    rng = np.random.default_rng(seed)
    mean = np.sin(np.linspace(0.0, 2.0 * np.pi, n_state))
    cov = prior_covariance(n_state, length_scale, std=1.0)
    chol = np.linalg.cholesky(cov)
    truth = mean + chol @ rng.standard_normal(n_state)
    members = mean + rng.standard_normal((n_members, n_state)) @ chol.T
    variables = [f"x{i:03d}" for i in range(n_state)]
    observed = np.arange(0, n_state, obs_every)
    observations = pd.DataFrame(
        {
            "variable": [variables[i] for i in observed],
            "value": truth[observed] + obs_error * rng.standard_normal(observed.size),
            "error_std": np.full(observed.size, obs_error),
        }
    )
    return DemoCase(
        config={
            "prior": "prior.parquet",
            "observations": "observations.parquet",
            "inflation": 1.0,
            "localization_radius": None,
            "es_mda_iterations": 1,
            **(config or {}),
        },
        prior=pd.DataFrame(members, columns=variables),
        observations=observations,
        truth=truth,
    )


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_parquet(index=False)


def case_files(case: DemoCase) -> dict[str, bytes]:
    """The three files of a case folder, as bytes."""
    return {
        "config.json": json.dumps(case.config, indent=2, sort_keys=True).encode(),
        "prior.parquet": parquet_bytes(case.prior),
        "observations.parquet": parquet_bytes(case.observations),
    }


def seed_demo(settings, instance) -> None:
    """Write the demo cases into blob storage (idempotent: unchanged files are not rewritten,
    so the sensor sees no change on restart)."""
    from platform_assets.kalman.cases import case_key
    from resources.shared.blob import BlobStorage

    blob = BlobStorage(url=settings.blob_url, aws_endpoint_url=settings.aws_endpoint_url)
    for name, seed in DEMO_CASES.items():
        case = make_case(seed, config={"localization_radius": 12.0} if name == "demo-sparse" else None)
        files = dict(case_files(case), **{"truth.parquet": parquet_bytes(pd.DataFrame({"truth": case.truth}))})
        for filename, data in files.items():
            key = case_key(name, filename)
            if not blob.exists(key) or blob.read_bytes(key) != data:
                blob.write_bytes(key, data)
