"""Dead-lettering of failed CTS imports, and replay of the dead-letter topic.

`cts_import_failures` (run-failure sensor on the importer jobs): once an import run has
failed for good (its step retries are exhausted and Dagster will not re-execute the run;
see ``dagster/will_retry``), it publishes the original event plus ``error_dlq`` (root
error) and ``error_dlq_trace`` (full trace) to ``CTS_JOBS_DLQ_TOPIC`` and marks the job
``<prefix>_error`` on the CTS. If either effect fails the sensor tick fails and Dagster
re-evaluates that run later (at-least-once).

`cts_dlq_replay` (stopped by default; an operator turns it on to drain the DLQ): each
tick re-publishes a bounded batch of dead-lettered events, with the error fields
stripped, to ``CTS_JOBS_TOPIC`` where `cts_job_events` handles them like new ones. A
replayed event carries ``dlq_replay`` (which dead letter it came from), so it gets a new
run key, while re-publishing the same dead letter twice still maps to one run. Its own
cursor only moves after the broker acknowledged the batch. Messages that are not events
(malformed JSON, missing keys) cannot be replayed and are skipped; an event replayed
``MAX_REPLAYS`` times is not replayed again, so a permanently failing import cannot loop.
"""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg

from platform_assets.cts import registry
from resources.cts import CtsClient
from resources.kafka import KafkaResource, TopicCursor, fingerprint
from sensors.cts_messages import (
    EVENT_TAG,
    JOB_ID_TAG,
    REPLAY_COUNT_FIELD,
    REPLAY_FIELD,
    BadEvent,
    dead_letter,
    parse_event,
    strip_dead_letter,
)

WILL_RETRY_TAG = "dagster/will_retry"  # set by Dagster on failed runs when run retries are on
PARTITION_TAG = "dagster/partition"
MAX_REPLAYS = 3
MAX_REPLAYS_PER_TICK = 200


def _root_error(error) -> object:
    """The innermost cause: the importer's own exception, not Dagster's wrapper."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error


def failure_details(context: dg.RunFailureSensorContext) -> tuple[str, str]:
    """(``error_dlq``, ``error_dlq_trace``) of a failed run: the first failed step's root
    error and its full trace; the run-level error when no step failed."""
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        if error is not None:
            root = _root_error(error)
            return f"{root.cls_name}: {root.message.strip()}", error.to_string()
    error = getattr(context.failure_event.event_specific_data, "error", None)
    if error is not None:
        root = _root_error(error)
        return f"{root.cls_name}: {root.message.strip()}", error.to_string()
    return context.failure_event.message or "run failed", ""


@dg.run_failure_sensor(
    name="cts_import_failures",
    monitored_jobs=[importer.job for importer in registry.IMPORTERS.values()],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Failed CTS imports (after all retries) -> DLQ topic + <prefix>_error on the job.",
)
def cts_import_failures(context: dg.RunFailureSensorContext, kafka: KafkaResource,
                        cts_client: CtsClient):
    run = context.instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
    if run.tags.get(WILL_RETRY_TAG) == "true":
        context.log.info(f"run {run.run_id} failed but Dagster will retry it; not dead-lettering")
        return
    error, trace = failure_details(context)
    event_json = run.tags.get(EVENT_TAG)
    if event_json:
        kafka.publish(kafka.dlq_topic, [dead_letter(json.loads(event_json), error, trace)])
    job_id = run.tags.get(JOB_ID_TAG) or run.tags.get(PARTITION_TAG)
    if job_id:
        cts_client.set_meta(job_id, {f"{registry.META_PREFIX}_error":
                                     dt.datetime.now(dt.timezone.utc).isoformat()})
    context.log.info(f"CTS job {job_id}: import run {run.run_id} failed for good: {error}"
                     + ("; event dead-lettered" if event_json else ""))


def replay_message(message) -> tuple[bytes, list] | None:
    """The event to re-publish for one dead letter, or None when it cannot be replayed."""
    try:
        event = parse_event(message.value())
    except BadEvent:
        return None
    replays = event.body.get(REPLAY_COUNT_FIELD) or 0
    if not isinstance(replays, int) or replays >= MAX_REPLAYS:
        return None
    body = strip_dead_letter(event.body)
    body[REPLAY_FIELD] = f"{message.partition()}:{message.offset()}:{fingerprint(message)[:8]}"
    body[REPLAY_COUNT_FIELD] = replays + 1
    return json.dumps(body).encode("utf-8"), []


@dg.sensor(
    name="cts_dlq_replay",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Turn on to re-publish dead-lettered CTS events to the jobs topic "
                "(bounded per tick, each dead letter once, at most 3 replays per event).",
)
def cts_dlq_replay(context: dg.SensorEvaluationContext, kafka: KafkaResource) -> dg.SensorResult:
    batch = kafka.read(kafka.dlq_topic, TopicCursor.from_json(context.cursor),
                       max_messages=MAX_REPLAYS_PER_TICK, max_seconds=10.0)
    if not batch.topic_exists:
        return dg.SensorResult(skip_reason=f"topic {kafka.dlq_topic!r} does not exist (yet)",
                               cursor=context.cursor)
    replays = [r for r in map(replay_message, batch.messages) if r is not None]
    kafka.publish(kafka.jobs_topic, replays)  # acknowledged before the cursor moves
    summary = (f"replayed {len(replays)} of {len(batch.messages)} dead letters to "
               f"{kafka.jobs_topic!r} ({len(batch.messages) - len(replays)} not replayable)")
    context.log.info(summary)
    return dg.SensorResult(cursor=batch.cursor.to_json(), skip_reason=summary)
