"""What starts CTS work: Kafka job events -> import runs, failed imports -> DLQ, DLQ replay."""

from __future__ import annotations

import dagster as dg

from sensors.cts.dlq_replay import cts_dlq_replay
from sensors.cts.failures import cts_import_failures
from sensors.cts.job_events import cts_job_events

defs = dg.Definitions(sensors=[cts_job_events, cts_import_failures, cts_dlq_replay])
