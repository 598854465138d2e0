"""The CTS family: one Delta-table import asset and job per importer, the table
maintenance job, and its resources.
Its sensors (job events, failures -> DLQ, DLQ replay) are in `sensors/cts/`."""

from __future__ import annotations

import dagster as dg

from platform_assets.cts.assets import IMPORT_ASSETS, IMPORT_JOBS
from platform_assets.cts.maintenance import cts_table_maintenance
from resources.cts import cts_resources

defs = dg.Definitions(assets=IMPORT_ASSETS, jobs=[*IMPORT_JOBS, cts_table_maintenance], resources=cts_resources())
