"""The platform's Dagster instance: Dagster's own, its event log storing a run's planned
events in one write (`event_storage.py`: the reason and the figures).

Named by ``instance_class`` in `dagster.yaml` and in the Helm values, so every process of a
deployment (daemon, webserver, run workers, code server) builds the same instance from the
same configuration; storage, run launcher and coordinator stay configured as usual. Batches
reach the storage only where ``DAGSTER_EVENT_BATCH_SIZE`` is set (Dagster's switch; set in
`make dev`, the Helm values and the benchmarks); without it the instance behaves as Dagster's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from platform_assets.runtime.event_storage import with_planned_event_batches

# Dagster's DAGSTER_EVENT_BATCH_SIZE for every process of the platform: a run over 500
# partitions writes its planned events and its materializations in one write each.
EVENT_BATCH_SIZE = 1_000


class PlatformInstance(dg.DagsterInstance):
    def __init__(self, **kwargs: Any) -> None:  # Dagster builds instances by keyword only
        kwargs["event_storage"] = with_planned_event_batches(kwargs["event_storage"])
        super().__init__(**kwargs)

    # what Dagster asks of an `instance_class`: its own config keys (none) and defaults (Dagster's)
    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, Any]:
        return InstanceRef.config_defaults(base_dir)
