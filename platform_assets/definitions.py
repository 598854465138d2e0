"""The code location: every family's definitions plus the shared resources, the
automation sensor and the executor for the current `PLATFORM_ENV`."""

from __future__ import annotations

import importlib
import importlib.util

import dagster as dg

from resources.blob import blob_storage_from_env
from resources.settings import settings

FAMILIES = ("kalman", "cts", "nlp", "propagation")


def family_definitions() -> list[dg.Definitions]:
    found = []
    for family in FAMILIES:
        module_name = f"platform_assets.{family}.definitions"
        if importlib.util.find_spec(module_name) is not None:
            found.append(importlib.import_module(module_name).defs)
    return found


def platform_executor() -> dg.ExecutorDefinition:
    """Each step in its own pod on k8s; locally, steps in subprocesses of the run worker."""
    if settings().is_k8s:
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return dg.multiprocess_executor


automation_sensor = dg.AutomationConditionSensorDefinition(
    "platform_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)

defs = dg.Definitions.merge(
    *family_definitions(),
    dg.Definitions(
        resources={"blob": blob_storage_from_env()},
        sensors=[automation_sensor],
        executor=platform_executor(),
    ),
)
