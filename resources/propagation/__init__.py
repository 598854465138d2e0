"""Resources of the propagation family: Dask (`propagation_resources()`, key `dask`)."""

from __future__ import annotations

from typing import Any

from resources.propagation.dask import DaskResource
from resources.settings import PlatformSettings, from_env, settings


def propagation_resources(current: PlatformSettings | None = None) -> dict[str, Any]:
    current = current or settings()
    return {"dask": DaskResource(scheduler_address=from_env("DASK_SCHEDULER_ADDRESS", current.dask_scheduler_address))}
