"""What a failed import run covers: its CTS jobs, the event of each, and which of them
failed with which error.

An import run covers one job (its partition) or a range of jobs. A job that failed on its
own is listed, with its error and trace, in the step failure's ``failed_jobs`` metadata
(``platform_assets.cts.batch_import``); the others of the run were imported and must not
be dead-lettered. A run that failed as a whole (its MERGE, a crash) lists nothing: then
every job of the run that it did not materialize failed with the run's error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import dagster as dg

from platform_assets.cts.batch_import import FAILED_JOBS_KEY
from platform_assets.cts.events import EVENT_TAG, JOB_ID_TAG
from platform_assets.cts.importers.registry import IMPORTERS
from platform_assets.provenance.dagster_internals import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    StepFailureData,
)


@dataclasses.dataclass(frozen=True)
class FailedJob:
    job_id: str
    error: str
    trace: str
    event: str | None  # the event JSON that requested it (None: a backfill, a UI click)


def run_jobs(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """The CTS jobs (partitions) ``run`` covers."""
    single = run.tags.get(PARTITION_NAME_TAG) or run.tags.get(JOB_ID_TAG)
    if single:
        return [single]
    start, end = run.tags.get(ASSET_PARTITION_RANGE_START_TAG), run.tags.get(ASSET_PARTITION_RANGE_END_TAG)
    importer = next((i for i in IMPORTERS.values() if i.job.name == run.job_name), None)
    if not (start and end and importer):
        return []
    keys = list(instance.get_dynamic_partitions(importer.partitions_name))
    if start not in keys or end not in keys:
        return []
    return keys[keys.index(start) : keys.index(end) + 1]


def run_events(run: dg.DagsterRun) -> Mapping[str, str]:
    """Job id -> the event JSON that requested it (run config; older runs: a tag)."""
    events: dict[str, str] = {}
    ops = (run.run_config or {}).get("ops")
    for op in ops.values() if isinstance(ops, dict) else ():
        config = op.get("config") if isinstance(op, dict) else None
        found = config.get("events") if isinstance(config, dict) else None
        events.update({str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {})
    single = run.tags.get(JOB_ID_TAG) or run.tags.get(PARTITION_NAME_TAG)
    if single and EVENT_TAG in run.tags:
        events.setdefault(single, run.tags[EVENT_TAG])
    return events


def step_failures(instance: dg.DagsterInstance, run_id: str) -> list[StepFailureData]:
    """The run's step failures (``StepFailureData``), in order: read once per failed run,
    for its error (``failures.failure_details``) and its failed jobs."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    return [r.dagster_event.step_failure_data for r in records if r.dagster_event is not None]


def _listed_failures(failures: Sequence[StepFailureData]) -> Mapping[str, Mapping[str, str]] | None:
    """``failed_jobs`` of the run's last step failure, if it has that metadata."""
    listed = None
    for data in failures:
        user = data.user_failure_data
        value = (user.metadata or {}).get(FAILED_JOBS_KEY) if user else None
        if isinstance(value, dg.JsonMetadataValue) and isinstance(value.data, dict):
            listed = value.data
    return listed


def _materialized(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    return {
        str(r.dagster_event.partition) for r in records if r.dagster_event and r.dagster_event.partition is not None
    }


def failed_jobs(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    failures: Sequence[StepFailureData],
    run_error: str,
    run_trace: str,
) -> list[FailedJob]:
    """The jobs of ``run`` that did not import, each with its own error when known
    (``failures``: the run's ``step_failures``)."""
    events = run_events(run)
    listed = _listed_failures(failures)
    if listed is not None:
        return [
            FailedJob(job, str(info.get("error") or run_error), str(info.get("trace") or run_trace), events.get(job))
            for job, info in listed.items()
            if isinstance(info, dict)
        ]
    imported = _materialized(instance, run.run_id)
    return [
        FailedJob(job, run_error, run_trace, events.get(job)) for job in run_jobs(instance, run) if job not in imported
    ]
