"""Sensor `cts_job_events`: CTS job events on ``CTS_JOBS_TOPIC`` -> import runs.

Why a sensor and not a consumer loop: the position in the topic lives in the sensor
cursor (per partition), which Dagster stores only when a tick succeeds. A tick that
raises (CTS down, broker gone, DLQ not acknowledged) is replayed in full next time;
nothing is lost and nothing is committed early. A job is requested once: a job whose
import partition is already materialized, failed or in progress (Dagster's partition
status, one lookup per importer and tick) is skipped, so duplicates and replays of the
topic never import twice; a DLQ replay is an explicit request and gets a run of its own.

Per tick, at the broker's pace: read up to ``MAX_EVENTS_PER_TICK`` messages within
``MAX_READ_SECONDS``; ``complete`` events fetch their jobs from the CTS (one call for the
whole tick, retried by :class:`CtsClient`, with as many requests in flight as it measures
to pay, up to its ``MAX_IN_FLIGHT``), route by image name to an importer, add the job ids
as dynamic partitions of the importer's asset and request their import, **many jobs per
run** (``import_requests``: one run per importer and contiguous range of at most
``MAX_JOBS_PER_RUN`` partitions). Other states are skipped. Unusable messages and jobs go
to the DLQ (acknowledged before the cursor moves); jobs whose image has no importer are
marked ``<prefix>_no_operation`` on the CTS.

**One message never stops the topic.** Every message ends in exactly one outcome
(:class:`Outcome`): requested, skipped (not complete, duplicate, already requested, no
importer) or dead-lettered. Whatever one message or its job document does (any
exception, size, nesting or encoding) concerns that message only: it is dead-lettered
with the error and its trace, and the tick goes on. Only what is not a message's fault
stops a tick: the CTS unreachable or refusing our credentials, the broker not
acknowledging the dead letters, the instance unavailable.

The tick has a deadline (``TICK_DEADLINE_SECONDS``, well inside the daemon's 60 s sensor
timeout) that every CTS call honours while its answer is read. When it comes near (a
slow CTS), the messages from the first one not fully handled on are left for the next
tick: each partition's cursor advances only past its last fully handled message.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from platform_assets.cts.events import (
    COMPLETE,
    BadEvent,
    DeadLetter,
    JobEvent,
    dead_letter,
    parse_event,
    trace_of,
)
from platform_assets.cts.importers.base import Importer
from platform_assets.cts.importers.registry import IMPORTERS, importer_for_image, job_image_name
from platform_assets.cts.job_meta import META_NO_OPERATION, utc_now
from platform_assets.provenance.dagster_internals import RUN_KEY_TAG, SENSOR_NAME_TAG
from resources.cts.client import (
    CtsBadResponse,
    CtsClient,
    CtsConfigError,
    CtsDeadlineReached,
    CtsError,
    CtsJobNotFound,
    CtsUnavailable,
)
from resources.cts.kafka import KafkaResource, PartitionPosition, TopicCursor, fingerprint
from sensors.cts.import_requests import ImportPlan, plan_imports

SENSOR_NAME = "cts_job_events"
MINIMUM_INTERVAL_SECONDS = 5
MAX_EVENTS_PER_TICK = 20_000
MAX_READ_SECONDS = 10.0
# reading + CTS calls; the DLQ flush (<= KafkaResource.flush_timeout_seconds, 15 s) comes
# after, and the whole tick must stay under the daemon's 60 s sensor evaluation timeout
TICK_DEADLINE_SECONDS = 35.0
IDLE_SECONDS = 1.0
RUN_KEY_LOOKUP_BATCH = 500  # run keys per instance query (DLQ replays)


class Outcome(enum.Enum):
    """How one message ended in a tick (exactly one per handled message)."""

    REQUESTED = "requested"
    NOT_COMPLETE = "skipped: not complete"
    DUPLICATE = "skipped: duplicate in this tick"
    ALREADY_REQUESTED = "skipped: already requested"
    NO_OPERATION = "skipped: no importer"
    DEAD_LETTERED = "dead-lettered"


class _NotDone(Exception):
    """A message could not be handled for a reason that is not its fault (CTS unavailable,
    deadline, credentials refused); it stays for the next tick."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


@dataclasses.dataclass
class _Message:
    """One message on its way through a tick."""

    message: Any  # confluent_kafka.Message
    event: JobEvent | None = None
    outcome: Outcome | None = None
    importer: Importer | None = None
    dead_letter: DeadLetter | None = None
    not_done: _NotDone | None = None


@dataclasses.dataclass
class TickPlan:
    """Everything one tick decided, before any of it is made durable."""

    imports: ImportPlan = dataclasses.field(default_factory=ImportPlan)
    dead_letters: list[DeadLetter] = dataclasses.field(default_factory=list)
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)  # of the handled prefix
    handled: int = 0  # messages (a prefix of the batch) whose effects are all planned/done
    deadline_reached: bool = False

    @property
    def run_requests(self) -> list[dg.RunRequest]:
        return self.imports.run_requests

    def summary(self, messages: int) -> str:
        left = messages - self.handled
        counts = Counter(self.outcomes)
        return (
            f"{messages} messages"
            + (f" ({left} left for the next tick: deadline or CTS unavailable)" if left else "")
            + f": {counts[Outcome.REQUESTED]} imports requested in {len(self.run_requests)} run(s), "
            f"{counts[Outcome.NOT_COMPLETE]} non-complete skipped, "
            f"{counts[Outcome.ALREADY_REQUESTED] + counts[Outcome.DUPLICATE]} already requested, "
            f"{counts[Outcome.NO_OPERATION]} without importer, "
            f"{counts[Outcome.DEAD_LETTERED]} dead-lettered"
        )


@dataclasses.dataclass(frozen=True)
class TickContext:
    """What a tick plan needs besides the messages."""

    cts: CtsClient
    instance: dg.DagsterInstance | None
    topic: str
    dlq_limit: int
    deadline: float | None = None


def _already_requested(instance: dg.DagsterInstance, job_ids: Sequence[str]) -> set[str]:
    """Jobs whose import partition (of any importer) is materialized, failed or in
    progress: requested before (a run's planned partitions count from its creation)."""
    requested: set[str] = set()
    for importer in IMPORTERS.values():
        statuses = instance.get_status_by_partition(importer.asset_key, list(job_ids), importer.partitions_def)
        requested |= {job for job, status in (statuses or {}).items() if status is not None}
    return requested


def _existing_run_keys(instance: dg.DagsterInstance, keys: Sequence[str]) -> set[str]:
    """Run keys this sensor already turned into runs (what the daemon would skip)."""
    found: set[str] = set()
    for start in range(0, len(keys), RUN_KEY_LOOKUP_BATCH):
        batch = list(keys[start : start + RUN_KEY_LOOKUP_BATCH])
        runs = instance.get_runs(dg.RunsFilter(tags={RUN_KEY_TAG: batch, SENSOR_NAME_TAG: SENSOR_NAME}))
        found |= {run.tags[RUN_KEY_TAG] for run in runs}
    return found


def _source(tick: TickContext, message) -> str:
    return f"{tick.topic}:{message.partition()}:{message.offset()}"


def _reject(tick: TickContext, item: _Message, error: BaseException, text: str | None = None) -> None:
    """Dead-letter one message: the original event (or bytes) plus the error and trace."""
    original = item.event.body if item.event is not None else item.message.value()
    if text is None:  # our own rejections say what is wrong; anything else names its type
        text = str(error) if isinstance(error, (BadEvent, CtsError)) else f"{type(error).__name__}: {error}"
    item.outcome = Outcome.DEAD_LETTERED
    item.dead_letter = dead_letter(
        original,
        text,
        trace_of(error),
        max_bytes=tick.dlq_limit,
        redact=tick.cts.redact,
        source=_source(tick, item.message),
    )


def _isolated(tick: TickContext, item: _Message, step: Callable[[], None]) -> None:
    """Run one message's step: a transient problem leaves it for the next tick; anything
    else it raises is that message's problem and dead-letters it."""
    try:
        step()
    except _NotDone as e:
        item.not_done = e
    except Exception as e:
        _reject(tick, item, e)


def _parse(tick: TickContext, item: _Message) -> None:
    def step() -> None:
        item.event = parse_event(item.message.value())
        if item.event.state != COMPLETE:
            item.outcome = Outcome.NOT_COMPLETE

    _isolated(tick, item, step)


def _per_job_error(error: Exception) -> bool:
    """A CTS error that concerns one job (dead-letter it), not the CTS or our setup."""
    if isinstance(error, (CtsJobNotFound, CtsBadResponse)):
        return True
    if isinstance(error, (CtsUnavailable, CtsConfigError)):
        return False
    if isinstance(error, CtsError):
        return bool(error.httpcode and 400 <= error.httpcode < 500)
    return True  # anything else fetching raised is about this job's answer


def _route(tick: TickContext, item: _Message, job: dict | Exception) -> None:
    def step() -> None:
        if isinstance(job, Exception):
            if not _per_job_error(job):
                raise _NotDone(job)
            _reject(tick, item, job, "No such job" if isinstance(job, CtsJobNotFound) else None)
            return
        name = job_image_name(job)
        if name is None:
            raise BadEvent("the CTS job document has no image name (image.name)")
        importer = importer_for_image(name)  # by name only, never tag or digest
        if importer is None:
            item.outcome = Outcome.NO_OPERATION
        else:
            item.importer, item.outcome = importer, Outcome.REQUESTED

    _isolated(tick, item, step)


def _mark_no_operation(tick: TickContext, items: list[_Message]) -> None:
    """Record ``_no_operation`` on each job without importer (idempotent: a replay of the
    tick records it again)."""
    by_job: dict[str, list[_Message]] = defaultdict(list)
    for item in items:
        assert item.event is not None
        by_job[item.event.job_id].append(item)
    errors = tick.cts.set_meta_many(by_job, {META_NO_OPERATION: utc_now()}, deadline=tick.deadline)
    for job_id, error in errors.items():
        if error is None:
            continue
        for item in by_job[job_id]:  # the job vanished, or the CTS refused the update
            item.outcome = None
            _route(tick, item, error)


def plan_tick(messages: Sequence[Any], tick: TickContext) -> TickPlan:
    """Decide every message of the batch; the plan holds the effects of the longest
    prefix (in read order) whose messages are all decided.

    A CTS outage (or refused credentials) with nothing handled raises: the tick fails
    visibly and nothing moves. After some progress, or when the deadline cut a CTS call
    short, the tick ends early with what is done.
    """
    items = [_Message(message) for message in messages]
    for item in items:
        _parse(tick, item)

    # duplicates within the tick and jobs already requested: no CTS call at all. A job
    # is requested once; a DLQ replay (an explicit request) once per dead letter.
    first: dict[str, _Message] = {}
    for item in items:
        if item.outcome is None and item.event is not None:
            key = item.event.run_key if item.event.replay else item.event.job_id
            if key in first:
                item.outcome = Outcome.DUPLICATE
            else:
                first[key] = item
    if tick.instance is not None and first:
        replays = [k for k, item in first.items() if item.event and item.event.replay]
        done = _existing_run_keys(tick.instance, replays) if replays else set()
        done |= _already_requested(tick.instance, [k for k in first if k not in replays])
        for key in done:
            first.pop(key).outcome = Outcome.ALREADY_REQUESTED

    pending = list(first.values())
    jobs = tick.cts.get_jobs([item.event.job_id for item in pending if item.event], deadline=tick.deadline)
    for item in pending:
        assert item.event is not None
        _route(tick, item, jobs[item.event.job_id])
    _mark_no_operation(tick, [item for item in pending if item.outcome is Outcome.NO_OPERATION])

    return _plan_of(items, tick.instance)


def _plan_of(items: list[_Message], instance: dg.DagsterInstance | None) -> TickPlan:
    plan = TickPlan()
    requested: dict[str, list[JobEvent]] = defaultdict(list)  # importer name -> events
    for item in items:
        if item.not_done is not None or item.outcome is None:
            break
        plan.handled += 1
        plan.outcomes.append(item.outcome)
        if item.outcome is Outcome.DEAD_LETTERED:
            assert item.dead_letter is not None
            plan.dead_letters.append(item.dead_letter)
        elif item.outcome is Outcome.REQUESTED:
            assert item.event is not None and item.importer is not None
            requested[item.importer.name].append(item.event)
    for name, events in requested.items():
        importer = IMPORTERS[name]
        existing = instance.get_dynamic_partitions(importer.partitions_name) if instance is not None else []
        plan_imports(importer, events, existing, plan.imports)
    stopped = next((item.not_done for item in items[plan.handled :] if item.not_done is not None), None)
    if stopped is not None:
        if not plan.handled and not isinstance(stopped.cause, CtsDeadlineReached):
            raise stopped.cause  # nothing handled: fail the tick visibly, cursor unchanged
        plan.deadline_reached = True
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


def _add_partitions(instance: dg.DagsterInstance | None, plan: TickPlan) -> list[dg.AddDynamicPartitionsRequest]:
    """Add the tick's new job partitions (in the order the run ranges assume). With an
    instance, directly, in one insert per importer (the daemon would check each key with
    a query of its own); else as requests in the result. A tick that fails afterwards
    leaves partitions without runs: harmless, their jobs are not requested yet (no
    partition status) and are requested by the tick that re-reads them."""
    new = plan.imports.new_partitions
    if instance is None:
        return [dg.AddDynamicPartitionsRequest(name, keys) for name, keys in sorted(new.items())]
    for name, keys in new.items():
        instance.add_dynamic_partitions(name, keys)
    return []


@dg.sensor(
    name=SENSOR_NAME,
    jobs=[importer.job for importer in IMPORTERS.values()],
    # an idle tick costs one metadata request and a 1 s poll; events wait at most this long
    minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="CTS job events (Kafka) -> import runs of the completed jobs, many jobs per run.",
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
    tick = TickContext(cts_client, context.instance, topic, kafka.message_limit(kafka.dlq_topic), deadline)
    plan = plan_tick(batch.messages, tick)
    kafka.publish(kafka.dlq_topic, plan.dead_letters)  # durable before the cursor moves
    partition_requests = _add_partitions(context.instance, plan)
    summary = plan.summary(len(batch.messages))
    if batch.reset_partitions:
        summary += f"; partitions {batch.reset_partitions} reset to their beginning"
    if plan.deadline_reached:
        context.log.warning(summary)
    elif batch.messages or batch.reset_partitions:  # an idle tick (every 30 s) says nothing
        context.log.info(summary)
    return dg.SensorResult(
        run_requests=plan.run_requests,
        dynamic_partitions_requests=partition_requests,
        cursor=handled_cursor(before, batch, plan.handled).to_json(),
        skip_reason=None if plan.run_requests else summary,
    )
