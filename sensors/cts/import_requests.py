"""Run requests of a `cts_job_events` tick: many jobs per run.

A tick may route thousands of jobs. Creating a run costs far more than importing a small
job (process start, run and event records), so the jobs an importer gets in a tick are
requested as few runs as possible: one per contiguous range of its dynamic partitions,
at most ``MAX_JOBS_PER_RUN`` jobs each. New job ids are appended to the importer's
partitions in read order, so the jobs of a tick normally form one range (a job whose
partition already existed, e.g. after a tick that failed before its runs were created,
may start another). Each job stays its own partition inside the run (provenance,
materialization, failure).

Every run carries, as execution-only run config, the event that requested each of its
jobs (dead-lettered if that job fails). Run keys make a re-evaluated tick harmless: a
range's key is the hash of its (job, transition) keys; a single job keeps
``cts:<job>:<trans_id>``; a DLQ replay always gets a run of its own with its replay key.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import dagster as dg

from platform_assets.cts.events import JOB_ID_TAG, TRANSITION_TAG, JobEvent
from platform_assets.cts.importers.base import IMPORTER_TAG, MAX_JOBS_PER_RUN, Importer
from platform_assets.provenance.dagster_internals import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

JOBS_TAG = "cts/jobs"  # number of CTS jobs a run covers


@dataclasses.dataclass
class ImportPlan:
    """The runs to request and the partitions to add first (in this order)."""

    run_requests: list[dg.RunRequest] = dataclasses.field(default_factory=list)
    new_partitions: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def _run_config(importer: Importer, events: Sequence[JobEvent]) -> dict:
    return {"ops": {importer.op_name: {"config": {"events": {e.job_id: e.to_json() for e in events}}}}}


def _request(importer: Importer, events: Sequence[JobEvent]) -> dg.RunRequest:
    tags = {IMPORTER_TAG: importer.name, JOBS_TAG: str(len(events))}
    config = _run_config(importer, events)
    if len(events) == 1:
        [event] = events
        tags |= {JOB_ID_TAG: event.job_id, TRANSITION_TAG: event.trans_id or ""}
        return dg.RunRequest(
            run_key=event.run_key, job_name=importer.job.name, partition_key=event.job_id, run_config=config, tags=tags
        )
    digest = hashlib.sha256("\n".join(sorted(e.run_key for e in events)).encode()).hexdigest()[:32]
    tags |= {ASSET_PARTITION_RANGE_START_TAG: events[0].job_id, ASSET_PARTITION_RANGE_END_TAG: events[-1].job_id}
    return dg.RunRequest(run_key=f"cts:batch:{digest}", job_name=importer.job.name, run_config=config, tags=tags)


def contiguous_runs(positions: Sequence[int], limit: int) -> list[slice]:
    """Slices of ``positions`` (sorted) that are consecutive integers, each at most
    ``limit`` long: a block of n consecutive positions becomes ceil(n / limit) slices
    whose sizes differ by at most one (2,500 jobs at 2,000 per run: 1,250 + 1,250, not
    2,000 + 500, whose long run the short one would wait for)."""
    runs: list[slice] = []
    start = 0
    for end in range(1, len(positions) + 1):
        if end == len(positions) or positions[end] != positions[end - 1] + 1:
            count = -(-(end - start) // limit)
            bounds = [start + (end - start) * i // count for i in range(count + 1)]
            runs += [slice(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
            start = end
    return runs


def plan_imports(importer: Importer, events: Sequence[JobEvent], existing: Sequence[str], plan: ImportPlan) -> None:
    """Add the runs for ``events`` (routed to ``importer``, one per job, in read order)
    given the importer's ``existing`` partitions (in their order)."""
    replays = [e for e in events if e.replay]
    plan.run_requests += [_request(importer, [event]) for event in replays]
    replayed = {e.job_id for e in replays}  # the replay's run imports the job anyway
    by_job = {e.job_id: e for e in events if not e.replay and e.job_id not in replayed}
    present = set(existing)
    new = [job for job in dict.fromkeys(e.job_id for e in events) if job not in present]
    if new:
        plan.new_partitions.setdefault(importer.partitions_name, []).extend(new)
    if not by_job:
        return
    order = {job: i for i, job in enumerate([*existing, *new]) if job in by_job}
    ranked = sorted(by_job, key=order.__getitem__)
    positions = [order[job] for job in ranked]
    for run in contiguous_runs(positions, MAX_JOBS_PER_RUN):
        plan.run_requests.append(_request(importer, [by_job[job] for job in ranked[run]]))
