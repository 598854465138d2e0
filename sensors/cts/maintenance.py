"""Schedule of `cts_table_maintenance` (platform_assets/cts/maintenance.py): hourly, so the
per-commit cost of imports stays flat however many jobs have been imported."""

from __future__ import annotations

import dagster as dg

from platform_assets.cts.maintenance import cts_table_maintenance

cts_table_maintenance_schedule = dg.ScheduleDefinition(
    name="cts_table_maintenance_hourly",
    job=cts_table_maintenance,
    cron_schedule="17 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Compact, vacuum (7-day retention) and checkpoint the CTS Delta tables.",
)
