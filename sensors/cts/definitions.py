"""What starts CTS work: Kafka job events -> import runs, failed imports -> DLQ, DLQ replay,
and the hourly table maintenance."""

from __future__ import annotations

import dagster as dg

from sensors.cts.dlq_replay import cts_dlq_replay
from sensors.cts.failures import cts_import_failures
from sensors.cts.job_events import cts_job_events
from sensors.cts.maintenance import cts_table_maintenance_schedule

defs = dg.Definitions(
    sensors=[cts_job_events, cts_import_failures, cts_dlq_replay], schedules=[cts_table_maintenance_schedule]
)
