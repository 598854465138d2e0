"""The event half of the CTS family: Kafka sensor, failure -> DLQ, DLQ replay, and the
``kafka`` resource. Merged into `platform_assets.cts.definitions`."""

from __future__ import annotations

import dagster as dg

from resources.kafka import kafka_resource
from sensors.cts_dlq import cts_dlq_replay, cts_import_failures
from sensors.cts_job_events import cts_job_events

events_defs = dg.Definitions(
    sensors=[cts_job_events, cts_import_failures, cts_dlq_replay],
    resources={"kafka": kafka_resource()},
)
