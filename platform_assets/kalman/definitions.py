"""The Kalman family: case inputs, the EnKF posterior (external program via Pipes), its
checks and the case-discovery sensor."""

import dagster as dg

from platform_assets.kalman.assets import case_inputs, posterior
from platform_assets.kalman.checks import kalman_checks
from sensors.kalman_cases import kalman_case_sensor

defs = dg.Definitions(
    assets=[case_inputs, posterior],
    asset_checks=kalman_checks,
    sensors=[kalman_case_sensor],
)
