"""The Kalman family: case inputs and the EnKF posterior (an external program via Pipes)
with its checks. Cases are discovered by `sensors/kalman/`."""

from __future__ import annotations

import dagster as dg

from platform_assets.kalman.assets import case_inputs, posterior
from platform_assets.kalman.checks import kalman_checks
from platform_assets.kalman.jobs import kalman_posterior_job

defs = dg.Definitions(assets=[case_inputs, posterior], asset_checks=kalman_checks, jobs=[kalman_posterior_job])
