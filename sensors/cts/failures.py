"""Sensor `cts_import_failures`: dead-lettering of CTS imports that failed for good.

Once an import run has failed for good (its step retries are
exhausted and Dagster will not re-execute the run; see ``dagster/will_retry``), it marks
each job of the run that did not import ``<prefix>_error`` on the CTS and publishes its
original event plus ``error_dlq`` (that job's root error) and ``error_dlq_trace`` (its
trace) to ``CTS_JOBS_DLQ_TOPIC``. The jobs of the same run that did import are left
alone (``failed_runs``).

Why a plain sensor and not ``@run_failure_sensor``: Dagster advances a run-status
sensor's cursor even when its function raises, so a failure that happened while Kafka or
the CTS was down would never be dead-lettered. This sensor keeps its own cursor (the
event-log storage id of the last ``RUN_FAILURE`` it fully handled; storage ids grow in
the order failures happen, so a run queued early and failing late is never skipped) and
moves it only past failures whose ``_error`` meta was recorded and whose dead letter the
broker acknowledged. A tick that handles nothing because of an outage raises (visible in
the UI) and the next tick starts from the same failure.

One failure never stops the others: an error text of any size is clipped (the dead
letter always fits the broker's limit), a run whose event tag is not JSON is
dead-lettered with its tag as it is, and a job the CTS refuses to mark is logged. Only
an outage (broker not acknowledging, CTS unreachable or refusing our credentials) stops
the tick at that failure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import dagster as dg

from platform_assets.cts.events import dead_letter, trace_of
from platform_assets.cts.importers.registry import IMPORTERS
from platform_assets.cts.job_meta import META_ERROR, utc_now
from platform_assets.provenance.dagster_internals import WILL_RETRY_TAG, SerializableErrorInfo, StepFailureData
from resources.cts.client import CtsClient, CtsConfigError, CtsUnavailable
from resources.cts.kafka import KafkaPublishError, KafkaResource
from resources.cts.text import clip
from sensors.cts.failed_runs import failed_jobs, run_events, step_failures

FAILURE_SENSOR_NAME = "cts_import_failures"
MAX_FAILURES_PER_TICK = 100


def _root_error(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The innermost cause: the importer's own exception, not Dagster's wrapper."""
    while error.cause is not None:
        error = error.cause
    return error


def _described(error: SerializableErrorInfo) -> tuple[str, str]:
    root = _root_error(error)
    return f"{root.cls_name}: {root.message.strip()}", error.to_string()


def failure_details(
    run_id: str, failures: Sequence[StepFailureData], failure_event: dg.EventLogEntry | None
) -> tuple[str, str]:
    """(``error_dlq``, ``error_dlq_trace``) of a failed run: the first failed step's root
    error and its full trace (``failures``: the run's ``step_failures``); else the
    run-level error; else the failure message. The trace is never empty (the DLQ contract
    requires both fields)."""
    for step_failure in failures:
        error = step_failure.error
        if error is not None:
            return _described(error)
    dagster_event = failure_event.dagster_event if failure_event else None
    error = getattr(getattr(dagster_event, "event_specific_data", None), "error", None)
    if error is not None:
        return _described(error)
    message = (dagster_event.message if dagster_event else None) or "run failed"
    return message, f"run {run_id} failed without an error trace: {message}"


def _failure_cursor(raw: str | None) -> int:
    """Storage id of the last RUN_FAILURE event fully handled (0: none yet)."""
    if not raw:
        return 0
    try:
        return int(json.loads(raw)["after_storage_id"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"unreadable {FAILURE_SENSOR_NAME} cursor {raw[:200]!r}: {e}") from e


def _failure_cursor_json(storage_id: int) -> str:
    return json.dumps({"after_storage_id": storage_id})


class _NotFinalYet(Exception):
    """Run retries are on and Dagster has not yet tagged whether it retries this run."""


def _outage(error: BaseException) -> bool:
    """Not this failure's fault: the tick stops here and a later tick retries it."""
    return isinstance(error, (KafkaPublishError, CtsUnavailable, CtsConfigError, _NotFinalYet))


def dead_letter_failed_run(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    failure_event: dg.EventLogEntry | None,
    kafka: KafkaResource,
    cts_client: CtsClient,
    log,
) -> str:
    """Mark each job of the run that did not import ``_error`` and dead-letter its event
    with its own error (``failed_runs``); the run's other jobs were imported and are left
    alone. Returns what was done; raises when an effect could not be made durable (the
    caller keeps its cursor)."""
    will_retry = run.tags.get(WILL_RETRY_TAG)
    if will_retry == "true":
        return f"run {run.run_id} failed but Dagster will retry it; not dead-lettering"
    if will_retry is None and instance.run_retries_enabled:
        raise _NotFinalYet(run.run_id)
    failures = step_failures(instance, run.run_id)
    error, trace = failure_details(run.run_id, failures, failure_event)
    jobs = failed_jobs(instance, run, failures, error, trace)
    marked = cts_client.set_meta_many([job.job_id for job in jobs], {META_ERROR: utc_now()})
    for job_id, problem in marked.items():
        if problem is not None:
            if _outage(problem):
                raise problem
            log.warning(f"cannot record {META_ERROR} on CTS job {job_id!r}: {type(problem).__name__}: {problem}")
    # jobs without an event (a backfill, a UI click) only get _error
    letters = _publish_letters(run, kafka, cts_client, [(job.event, job.error, job.trace) for job in jobs if job.event])
    summary = clip(error, 300, redact=cts_client.redact)
    return (
        f"import run {run.run_id} failed for good ({summary}): {len(jobs)} CTS job(s) marked "
        f"{META_ERROR}, {letters} event(s) dead-lettered"
    )


def _dead_letter_unhandled(run: dg.DagsterRun, kafka: KafkaResource, cts_client: CtsClient, problem: Exception) -> str:
    """A failure whose handling itself broke (not an outage): dead-letter what the run
    carries, with that problem as the error, so it is seen once and the tick goes on."""
    error = (
        f"import run {run.run_id} failed and could not be dead-lettered normally: {type(problem).__name__}: {problem}"
    )
    events = list(run_events(run).values()) or ["{}"]
    _publish_letters(run, kafka, cts_client, [(event, error, trace_of(problem)) for event in events])
    return f"import run {run.run_id}: dead-lettered with the error of its handling ({type(problem).__name__})"


def _publish_letters(
    run: dg.DagsterRun, kafka: KafkaResource, cts_client: CtsClient, letters: list[tuple[str, str, str]]
) -> int:
    """Dead-letter each (event JSON, error, trace) of ``run``, durably (raises when the
    broker did not acknowledge). Returns how many."""
    limit = kafka.message_limit(kafka.dlq_topic)
    kafka.publish(
        kafka.dlq_topic,
        [
            dead_letter(
                event.encode("utf-8", errors="backslashreplace"),  # an event object stays one
                error,
                trace,
                max_bytes=limit,
                redact=cts_client.redact,
                source=f"run:{run.run_id}",
            )
            for event, error, trace in letters
        ],
    )
    return len(letters)


@dg.sensor(
    name=FAILURE_SENSOR_NAME,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Failed CTS imports (after all retries) -> DLQ topic + <prefix>_error on the "
    "job; the cursor moves only past failures whose effects are durable.",
)
def cts_import_failures(
    context: dg.SensorEvaluationContext, kafka: KafkaResource, cts_client: CtsClient
) -> dg.SensorResult:
    instance = context.instance
    after = _failure_cursor(context.cursor)
    failures = instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(event_type=dg.DagsterEventType.RUN_FAILURE, after_storage_id=after or None),
        limit=MAX_FAILURES_PER_TICK,
        ascending=True,
    ).records
    import_jobs = [importer.job.name for importer in IMPORTERS.values()]
    run_ids = list(dict.fromkeys(record.run_id for record in failures))
    runs = (
        {
            record.dagster_run.run_id: record.dagster_run
            for job_name in import_jobs
            for record in instance.get_run_records(
                dg.RunsFilter(run_ids=run_ids, job_name=job_name, statuses=[dg.DagsterRunStatus.FAILURE])
            )
        }
        if run_ids
        else {}
    )
    handled, done = after, list[str]()
    for record in failures:
        run = runs.get(record.run_id)
        if run is not None:
            try:
                try:
                    line = dead_letter_failed_run(instance, run, record.event_log_entry, kafka, cts_client, context.log)
                except Exception as problem:
                    if _outage(problem):
                        raise
                    line = _dead_letter_unhandled(run, kafka, cts_client, problem)
            except _NotFinalYet:
                break  # decided by Dagster moments later: look again next tick
            except Exception:
                if not done:
                    raise  # an outage and nothing handled: fail the tick visibly, cursor unchanged
                context.log.exception(f"dead-lettering run {run.run_id} failed; retrying from it next tick")
                break
            done.append(line)
        handled = record.storage_id
    for line in done:
        context.log.info(line)
    return dg.SensorResult(
        cursor=_failure_cursor_json(handled), skip_reason=f"{len(done)} failed import run(s) handled"
    )
