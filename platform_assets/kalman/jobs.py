"""`kalman_posterior`: the named job every case run belongs to (the case sensor requests it),
so the runs list and timeline say what ran instead of "Jobless asset materializations"."""

from __future__ import annotations

import dagster as dg

from platform_assets.kalman.assets import posterior

kalman_posterior_job = dg.define_asset_job(
    "kalman_posterior",
    selection=dg.AssetSelection.assets(posterior.key),
    description="The EnKF posterior of one case (partition) and its checks.",
)
