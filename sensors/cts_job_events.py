"""Sensor `cts_job_events`: CTS job events on ``CTS_JOBS_TOPIC`` -> import runs.

Why a sensor and not a consumer loop: the position in the topic lives in the sensor
cursor (per partition), which Dagster stores only when a tick succeeds. A tick that
raises (CTS down, broker gone, DLQ not acknowledged) is replayed in full next time;
nothing is lost and nothing is committed early. Replays never duplicate runs because a
run key names the (job, transition), and runs of different jobs are independent, so one
long import never holds up the others (unlike one-event-at-a-time per partition).

Per tick: read at most ``MAX_EVENTS_PER_TICK`` messages within ``MAX_TICK_SECONDS``;
``complete`` events fetch their jobs from the CTS (bounded concurrency, retried by
:class:`CtsClient`), route by image name to an importer, add the job id as a dynamic
partition of the importer's asset and request its import. Other states are skipped.
Unusable messages and unknown jobs go to the DLQ (acknowledged before the cursor moves);
jobs whose image has no importer are marked ``<prefix>_no_operation`` on the CTS.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict

import dagster as dg

from platform_assets.cts import registry
from resources.cts import CtsClient, CtsError, CtsJobNotFound
from resources.kafka import KafkaResource, TopicCursor
from sensors.cts_messages import (
    COMPLETE,
    EVENT_TAG,
    IMPORTER_TAG,
    JOB_ID_TAG,
    TRANSITION_TAG,
    BadEvent,
    JobEvent,
    dead_letter,
    parse_event,
)

SENSOR_NAME = "cts_job_events"
MAX_EVENTS_PER_TICK = 500
MAX_TICK_SECONDS = 15.0  # reading; CTS calls add at most a few seconds per tick
IDLE_SECONDS = 1.0
CTS_CONCURRENCY = 8
RUN_KEY_TAG, SENSOR_NAME_TAG = "dagster/run_key", "dagster/sensor_name"  # set by the daemon
# CTS refusals that concern the whole configuration, not one message: fail the tick
_CONFIG_ERRORS = {401, 403}


@dataclasses.dataclass
class TickPlan:
    """Everything one tick decided, before any of it is made durable."""

    run_requests: list[dg.RunRequest] = dataclasses.field(default_factory=list)
    partitions: dict[str, set[str]] = dataclasses.field(
        default_factory=lambda: defaultdict(set))
    dead_letters: list[tuple[bytes, list[tuple[str, bytes]]]] = dataclasses.field(
        default_factory=list)
    no_operation: list[str] = dataclasses.field(default_factory=list)
    skipped_states: int = 0
    already_requested: int = 0

    def summary(self, messages: int) -> str:
        return (f"{messages} messages: {len(self.run_requests)} imports requested, "
                f"{self.skipped_states} non-complete skipped, {self.already_requested} "
                f"already requested, {len(self.no_operation)} without importer, "
                f"{len(self.dead_letters)} dead-lettered")


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
    runs = instance.get_runs(dg.RunsFilter(tags={RUN_KEY_TAG: keys,
                                                 SENSOR_NAME_TAG: SENSOR_NAME}))
    return {run.tags[RUN_KEY_TAG] for run in runs}


def plan_tick(messages, cts: CtsClient, instance: dg.DagsterInstance | None) -> TickPlan:
    """Decide the effects of a batch of messages. Raises on transient CTS failures."""
    plan = TickPlan()
    completed: dict[str, JobEvent] = {}
    for message in messages:
        try:
            event = parse_event(message.value())
        except BadEvent as e:
            plan.dead_letters.append(dead_letter(message.value(), str(e)))
            continue
        if event.state != COMPLETE:
            plan.skipped_states += 1
            continue
        completed.setdefault(event.run_key, event)  # duplicates within the batch
    if instance is not None:
        done = _existing_run_keys(instance, list(completed))
        plan.already_requested = len(done)
        completed = {k: e for k, e in completed.items() if k not in done}

    jobs = cts.get_jobs([e.job_id for e in completed.values()], max_concurrency=CTS_CONCURRENCY)
    for event in completed.values():
        job = jobs[event.job_id]
        if isinstance(job, CtsJobNotFound):
            plan.dead_letters.append(dead_letter(event.body, "No such job"))
            continue
        if isinstance(job, CtsError) and job.httpcode and 400 <= job.httpcode < 500 \
                and job.httpcode not in _CONFIG_ERRORS:
            plan.dead_letters.append(dead_letter(event.body, str(job)))
            continue
        if isinstance(job, Exception):
            raise job  # CTS unavailable after retries / misconfigured: replay next tick
        try:
            importer = registry.importer_for_image(image_name(job))
        except BadEvent as e:
            plan.dead_letters.append(dead_letter(event.body, str(e)))
            continue
        if importer is None:
            plan.no_operation.append(event.job_id)
            continue
        plan.partitions[importer.partitions_def.name].add(event.job_id)
        plan.run_requests.append(dg.RunRequest(
            run_key=event.run_key,
            job_name=importer.job.name,
            partition_key=event.job_id,
            tags={EVENT_TAG: event.to_json(), JOB_ID_TAG: event.job_id,
                  TRANSITION_TAG: event.trans_id or "", IMPORTER_TAG: importer.name},
        ))
    return plan


def _partition_requests(plan: TickPlan) -> list[dg.AddDynamicPartitionsRequest]:
    return [dg.AddDynamicPartitionsRequest(partitions_def_name=name,
                                           partition_keys=sorted(keys))
            for name, keys in sorted(plan.partitions.items())]


@dg.sensor(
    name=SENSOR_NAME,
    jobs=[importer.job for importer in registry.IMPORTERS.values()],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="CTS job events (Kafka) -> one import run per completed job and importer.",
)
def cts_job_events(context: dg.SensorEvaluationContext, kafka: KafkaResource,
                   cts_client: CtsClient) -> dg.SensorResult:
    topic = kafka.jobs_topic
    batch = kafka.read(topic, TopicCursor.from_json(context.cursor),
                       max_messages=MAX_EVENTS_PER_TICK, max_seconds=MAX_TICK_SECONDS,
                       idle_seconds=IDLE_SECONDS)
    if not batch.topic_exists:
        return dg.SensorResult(skip_reason=f"topic {topic!r} does not exist (yet)",
                               cursor=context.cursor)
    plan = plan_tick(batch.messages, cts_client, context.instance)
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    for job_id in plan.no_operation:
        cts_client.set_meta(job_id, {f"{registry.META_PREFIX}_no_operation": now})
    kafka.publish(kafka.dlq_topic, plan.dead_letters)  # durable before the cursor moves
    summary = plan.summary(len(batch.messages))
    if batch.reset_partitions:
        summary += f"; partitions {batch.reset_partitions} reset to their beginning"
    context.log.info(summary)
    return dg.SensorResult(
        run_requests=plan.run_requests,
        dynamic_partitions_requests=_partition_requests(plan),
        cursor=batch.cursor.to_json(),
        skip_reason=None if plan.run_requests else summary,
    )
