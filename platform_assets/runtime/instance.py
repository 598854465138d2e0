"""The platform's Dagster instance: Dagster's own, with event batches always on and its event
log storing a run's planned events in one write (`event_storage.py`: the reason and the
figures).

Named by ``instance_class`` in `dagster.yaml` and in the Helm values, so every process of a
deployment (daemon, webserver, run workers, code server) builds the same instance from the
same configuration; storage, run launcher and coordinator stay configured as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from platform_assets.runtime.event_storage import with_planned_event_batches

# Events of one batch (a run's planned events, a run's materializations) written at once, at
# most this many together. Dagster reads its batch size (``DAGSTER_EVENT_BATCH_SIZE``, 0 =
# off) through the instance only; this instance has it here, so no deployment can forget it.
EVENT_BATCH_SIZE = 1_000


class PlatformInstance(dg.DagsterInstance):
    def __init__(self, **kwargs: Any) -> None:  # Dagster builds instances by keyword only
        kwargs["event_storage"] = with_planned_event_batches(kwargs["event_storage"])
        super().__init__(**kwargs)

    def _get_event_batch_size(self) -> int:  # Dagster 1.13: the one place it reads the size
        return EVENT_BATCH_SIZE

    # what Dagster asks of an `instance_class`: its own config keys (none) and defaults (Dagster's)
    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, Any]:
        return InstanceRef.config_defaults(base_dir)
