"""The CTS family: one Delta-table import asset and job per importer, and its resources.
Its sensors (job events, failures -> DLQ, DLQ replay) are in `sensors/cts/`."""

from __future__ import annotations

import dagster as dg

from platform_assets.cts.assets import IMPORT_ASSETS, IMPORT_JOBS
from resources.cts import cts_resources

defs = dg.Definitions(assets=IMPORT_ASSETS, jobs=IMPORT_JOBS, resources=cts_resources())
