"""The code location: every discovered family's definitions, the shared resources, the
automation sensor and the executor for the current `PLATFORM_ENV`."""

from __future__ import annotations

import gc

import dagster as dg

from resources.gc_pause import collection_paused

# loading allocates much and frees almost nothing: full collections were ~0.1 s of it
with collection_paused():
    from platform_assets.families import discover_families
    from resources.settings import settings
    from resources.shared import shared_resources


def platform_executor() -> dg.ExecutorDefinition:
    """Each step in its own pod on k8s (its own image and resources). Locally a run is one
    process: a step in a subprocess would pay another code-location load (a Kalman run's three
    checks each cost 8-10 s that way), and a laptop's parallelism comes from concurrent runs
    (the run coordinator's limits), not from steps of one run."""
    if settings().is_k8s:
        from dagster_k8s import k8s_job_executor

        from resources.shared.pods import step_executor_config

        return k8s_job_executor.configured(step_executor_config())
    return dg.in_process_executor


automation_sensor = dg.AutomationConditionSensorDefinition(
    "platform_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)

with collection_paused():
    FAMILIES = discover_families()

    defs = dg.Definitions.merge(
        *(family.definitions for family in FAMILIES),
        dg.Definitions(
            resources=shared_resources(),
            sensors=[automation_sensor],
            executor=platform_executor(),
        ),
    )

# Dagster and the definitions live as long as the process (code server, run worker): out of
# every later collection, so a full collection during a tick or a run walks only what was
# allocated since (a 10,000-event tick: ~0.2 s less of ~2.9 s).
gc.freeze()
