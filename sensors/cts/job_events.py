"""Sensor `cts_job_events`: CTS job events on ``CTS_JOBS_TOPIC`` -> import runs.

Why a sensor and not a consumer loop: the position in the topic lives in the sensor
cursor (per partition), which Dagster stores only when a tick succeeds. A tick that
raises (CTS down, broker gone, DLQ not acknowledged) is replayed in full next time;
nothing is lost and nothing is committed early. Replays never duplicate runs because a
run key names the (job, transition), and runs of different jobs are independent, so one
long import never holds up the others (unlike one-event-at-a-time per partition).

Per tick: read at most ``MAX_EVENTS_PER_TICK`` messages within ``MAX_READ_SECONDS``;
``complete`` events fetch their jobs from the CTS (bounded concurrency, retried by
:class:`CtsClient`), route by image name to an importer, add the job id as a dynamic
partition of the importer's asset and request its import. Other states are skipped.
Unusable messages and unknown jobs go to the DLQ (acknowledged before the cursor moves);
jobs whose image has no importer are marked ``<prefix>_no_operation`` on the CTS.

The tick has a deadline (``TICK_DEADLINE_SECONDS``, well inside the daemon's 60 s sensor
timeout): messages are handled in chunks in read order and every CTS call is bounded by
the deadline. When it comes near (a slow CTS), the remaining messages are left for the
next tick and the cursor of each partition advances only past its last fully handled
message.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict

import dagster as dg

from platform_assets.cts.events import (
    COMPLETE,
    EVENT_TAG,
    JOB_ID_TAG,
    TRANSITION_TAG,
    BadEvent,
    JobEvent,
    dead_letter,
    parse_event,
    trace_of,
)
from platform_assets.cts.importers.base import IMPORTER_TAG
from platform_assets.cts.importers.registry import IMPORTERS, importer_for_image
from platform_assets.cts.job_meta import META_NO_OPERATION, utc_now
from resources.cts.client import (
    CtsClient,
    CtsDeadlineReached,
    CtsError,
    CtsJobNotFound,
    CtsUnavailable,
)
from resources.cts.kafka import KafkaResource, PartitionPosition, TopicCursor, fingerprint

SENSOR_NAME = "cts_job_events"
MAX_EVENTS_PER_TICK = 500
MAX_READ_SECONDS = 15.0
# reading + CTS calls; the DLQ flush (<= KafkaResource.flush_timeout_seconds, 15 s) comes
# after, and the whole tick must stay under the daemon's 60 s sensor evaluation timeout
TICK_DEADLINE_SECONDS = 35.0
IDLE_SECONDS = 1.0
CTS_CONCURRENCY = 8
# messages whose CTS work is done together: about one round of concurrent fetches, so a
# chunk fits in the time left after reading even when the CTS is slow
CHUNK_SIZE = 2 * CTS_CONCURRENCY
RUN_KEY_TAG, SENSOR_NAME_TAG = "dagster/run_key", "dagster/sensor_name"  # set by the daemon
# CTS refusals that concern the whole configuration, not one message: fail the tick
_CONFIG_ERRORS = {401, 403}


@dataclasses.dataclass
class TickPlan:
    """Everything one tick decided, before any of it is made durable."""

    run_requests: list[dg.RunRequest] = dataclasses.field(default_factory=list)
    partitions: dict[str, set[str]] = dataclasses.field(default_factory=lambda: defaultdict(set))
    dead_letters: list[tuple[bytes, list[tuple[str, bytes]]]] = dataclasses.field(default_factory=list)
    no_operation: list[str] = dataclasses.field(default_factory=list)
    skipped_states: int = 0
    already_requested: int = 0
    handled: int = 0  # messages (a prefix of the batch) whose effects are all planned/done
    deadline_reached: bool = False

    def summary(self, messages: int) -> str:
        left = messages - self.handled
        return (
            f"{messages} messages"
            + (f" ({left} left for the next tick: deadline)" if left else "")
            + f": {len(self.run_requests)} imports requested, "
            f"{self.skipped_states} non-complete skipped, {self.already_requested} "
            f"already requested, {len(self.no_operation)} without importer, "
            f"{len(self.dead_letters)} dead-lettered"
        )


def image_name(job: dict) -> str:
    """The job's image name (importers are chosen by name only, never tag or digest)."""
    try:
        name = job["image"]["name"]
    except (KeyError, TypeError):
        raise BadEvent(f"CTS job {job.get('id')!r} has no image name") from None
    if not isinstance(name, str) or not name:
        raise BadEvent(f"CTS job {job.get('id')!r} has an invalid image name {name!r}")
    return name


def _existing_run_keys(instance: dg.DagsterInstance, keys: list[str]) -> set[str]:
    """Run keys this sensor already turned into runs (what the daemon would skip)."""
    if not keys:
        return set()
    runs = instance.get_runs(dg.RunsFilter(tags={RUN_KEY_TAG: keys, SENSOR_NAME_TAG: SENSOR_NAME}))
    return {run.tags[RUN_KEY_TAG] for run in runs}


def _bad(plan: TickPlan, original, error: BaseException, text: str | None = None) -> None:
    plan.dead_letters.append(dead_letter(original, text or str(error), trace_of(error)))


def plan_chunk(
    plan: TickPlan, messages, cts: CtsClient, instance: dg.DagsterInstance | None, deadline: float | None = None
) -> None:
    """Add the effects of ``messages`` to ``plan`` (``no_operation`` meta is recorded on
    the CTS here). Raises :class:`CtsUnavailable` (also when ``deadline`` passes) and
    configuration errors; then ``plan`` holds nothing of this chunk."""
    chunk = TickPlan()
    requested = {r.run_key for r in plan.run_requests}
    completed: dict[str, JobEvent] = {}
    for message in messages:
        try:
            event = parse_event(message.value())
        except BadEvent as e:
            _bad(chunk, message.value(), e)
            continue
        if event.state != COMPLETE:
            chunk.skipped_states += 1
            continue
        if event.run_key not in requested:
            completed.setdefault(event.run_key, event)  # duplicates within the tick
    if instance is not None:
        done = _existing_run_keys(instance, list(completed))
        chunk.already_requested = len(done)
        completed = {k: e for k, e in completed.items() if k not in done}

    jobs = cts.get_jobs([e.job_id for e in completed.values()], max_concurrency=CTS_CONCURRENCY, deadline=deadline)
    for event in completed.values():
        job = jobs[event.job_id]
        if isinstance(job, CtsJobNotFound):
            _bad(chunk, event.body, job, "No such job")
            continue
        if (
            isinstance(job, CtsError)
            and job.httpcode
            and 400 <= job.httpcode < 500
            and job.httpcode not in _CONFIG_ERRORS
        ):
            _bad(chunk, event.body, job)
            continue
        if isinstance(job, Exception):
            raise job  # CTS unavailable after retries / misconfigured: replay next tick
        try:
            importer = importer_for_image(image_name(job))
        except BadEvent as e:
            _bad(chunk, event.body, e)
            continue
        if importer is None:
            chunk.no_operation.append(event.job_id)
            continue
        chunk.partitions[importer.partitions_name].add(event.job_id)
        chunk.run_requests.append(
            dg.RunRequest(
                run_key=event.run_key,
                job_name=importer.job.name,
                partition_key=event.job_id,
                tags={
                    EVENT_TAG: event.to_json(),
                    JOB_ID_TAG: event.job_id,
                    TRANSITION_TAG: event.trans_id or "",
                    IMPORTER_TAG: importer.name,
                },
            )
        )
    for job_id in dict.fromkeys(chunk.no_operation):  # idempotent: safe to repeat on replay
        cts.set_meta(job_id, {META_NO_OPERATION: utc_now()}, deadline=deadline)
    # the chunk is fully handled: merge it
    plan.run_requests += chunk.run_requests
    for name, keys in chunk.partitions.items():
        plan.partitions[name] |= keys
    plan.dead_letters += chunk.dead_letters
    plan.no_operation += chunk.no_operation
    plan.skipped_states += chunk.skipped_states
    plan.already_requested += chunk.already_requested
    plan.handled += len(messages)


def plan_tick(
    messages,
    cts: CtsClient,
    instance: dg.DagsterInstance | None,
    deadline: float | None = None,
    chunk_size: int | None = None,
) -> TickPlan:
    """Handle ``messages`` chunk by chunk in read order until ``deadline``.

    ``plan.handled`` counts the messages (a prefix) whose effects are in the plan. A CTS
    outage raises when nothing was handled yet (the tick fails, nothing moves); after
    some progress, or when the deadline cut a CTS call short, the tick ends early with
    what is done.
    """
    plan = TickPlan()
    size = chunk_size or CHUNK_SIZE
    for start in range(0, len(messages), size):
        if deadline is not None and time.monotonic() >= deadline:
            plan.deadline_reached = True
            break
        try:
            plan_chunk(plan, messages[start : start + size], cts, instance, deadline)
        except CtsUnavailable as e:
            if plan.handled or isinstance(e, CtsDeadlineReached):
                plan.deadline_reached = True
                break  # keep what is done; the rest is read again next tick
            raise
    return plan


def handled_cursor(before: TopicCursor, batch, handled: int) -> TopicCursor:
    """The cursor after the first ``handled`` messages of ``batch``: per partition, past
    its last handled message; where nothing was handled, where the read started."""
    if handled >= len(batch.messages):
        return batch.cursor
    positions = dict(batch.cursor.positions)
    pending = {m.partition() for m in batch.messages[handled:]}
    for p in pending:
        if p in batch.reset_partitions or p not in before.positions:
            positions.pop(p, None)
        else:
            positions[p] = before.positions[p]
    for message in batch.messages[:handled]:
        if message.partition() in pending:
            positions[message.partition()] = PartitionPosition(message.offset() + 1, fingerprint(message))
    return TopicCursor(positions)


def _partition_requests(plan: TickPlan) -> list[dg.AddDynamicPartitionsRequest]:
    return [
        dg.AddDynamicPartitionsRequest(partitions_def_name=name, partition_keys=sorted(keys))
        for name, keys in sorted(plan.partitions.items())
    ]


@dg.sensor(
    name=SENSOR_NAME,
    jobs=[importer.job for importer in IMPORTERS.values()],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="CTS job events (Kafka) -> one import run per completed job and importer.",
)
def cts_job_events(context: dg.SensorEvaluationContext, kafka: KafkaResource, cts_client: CtsClient) -> dg.SensorResult:
    deadline = time.monotonic() + TICK_DEADLINE_SECONDS
    topic = kafka.jobs_topic
    before = TopicCursor.from_json(context.cursor)
    batch = kafka.read(
        topic, before, max_messages=MAX_EVENTS_PER_TICK, max_seconds=MAX_READ_SECONDS, idle_seconds=IDLE_SECONDS
    )
    if not batch.topic_exists:
        return dg.SensorResult(skip_reason=f"topic {topic!r} does not exist (yet)", cursor=context.cursor)
    plan = plan_tick(batch.messages, cts_client, context.instance, deadline=deadline)
    kafka.publish(kafka.dlq_topic, plan.dead_letters)  # durable before the cursor moves
    summary = plan.summary(len(batch.messages))
    if batch.reset_partitions:
        summary += f"; partitions {batch.reset_partitions} reset to their beginning"
    (context.log.warning if plan.deadline_reached else context.log.info)(summary)
    return dg.SensorResult(
        run_requests=plan.run_requests,
        dynamic_partitions_requests=_partition_requests(plan),
        cursor=handled_cursor(before, batch, plan.handled).to_json(),
        skip_reason=None if plan.run_requests else summary,
    )
