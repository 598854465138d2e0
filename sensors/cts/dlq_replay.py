"""Sensor `cts_dlq_replay` (stopped by default; an operator turns it on to drain the DLQ): each
tick re-publishes a bounded batch of dead-lettered events, with the error fields
stripped, to ``CTS_JOBS_TOPIC`` where `cts_job_events` handles them like new ones. A
replayed event carries ``dlq_replay`` (which dead letter it came from), so it gets a new
run key, while re-publishing the same dead letter twice still maps to one run. Its own
cursor only moves after the broker acknowledged the batch. Messages that are not events
(malformed JSON, missing keys, cut to fit the DLQ, too large for the jobs topic) cannot be
replayed and are skipped (logged), whatever they contain: a dead letter never stops the
replay; an event replayed ``MAX_REPLAYS`` times is not replayed again, so a permanently
failing import cannot loop.
"""

from __future__ import annotations

import json

import dagster as dg

from platform_assets.cts.events import (
    RECORD_OVERHEAD_BYTES,
    REPLAY_COUNT_FIELD,
    REPLAY_FIELD,
    BadEvent,
    parse_event,
    strip_dead_letter,
)
from resources.cts.kafka import KafkaResource, TopicCursor, fingerprint
from resources.cts.text import clip

MAX_REPLAYS = 3
MAX_REPLAYS_PER_TICK = 200


def replay_message(message, max_bytes: int | None = None) -> tuple[bytes, list] | None:
    """The event to re-publish for one dead letter, or None when it cannot be replayed.

    The error fields go first: with them a dead letter is often larger than any event
    (the error and trace alone may take 8,000 characters), and what must be a valid
    event is what is replayed, not the letter."""
    try:
        letter = json.loads(message.value() or b"")
        if not isinstance(letter, dict):
            return None
        event = parse_event(json.dumps(strip_dead_letter(letter), ensure_ascii=False).encode("utf-8"))
    except (BadEvent, ValueError, RecursionError):  # UnicodeError is a ValueError
        return None
    replays = event.body.get(REPLAY_COUNT_FIELD) or 0
    if not isinstance(replays, int) or replays >= MAX_REPLAYS:
        return None
    body = dict(event.body)
    body[REPLAY_FIELD] = f"{message.partition()}:{message.offset()}:{fingerprint(message)[:8]}"
    body[REPLAY_COUNT_FIELD] = replays + 1
    value = json.dumps(body).encode("ascii")
    if max_bytes is not None and len(value) > max_bytes - RECORD_OVERHEAD_BYTES:
        return None
    return value, []


def _replayable(context: dg.SensorEvaluationContext, message, max_bytes: int) -> tuple[bytes, list] | None:
    """``replay_message``, isolated: whatever a dead letter contains, it is skipped, not
    a reason to stop the replay."""
    try:
        return replay_message(message, max_bytes)
    except Exception as e:
        where = f"{message.partition()}:{message.offset()}"
        context.log.warning(f"dead letter {where} cannot be replayed: {clip(f'{type(e).__name__}: {e}', 300)}")
        return None


@dg.sensor(
    name="cts_dlq_replay",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Turn on to re-publish dead-lettered CTS events to the jobs topic "
    "(bounded per tick, each dead letter once, at most 3 replays per event).",
)
def cts_dlq_replay(context: dg.SensorEvaluationContext, kafka: KafkaResource) -> dg.SensorResult:
    batch = kafka.read(
        kafka.dlq_topic, TopicCursor.from_json(context.cursor), max_messages=MAX_REPLAYS_PER_TICK, max_seconds=10.0
    )
    if not batch.topic_exists:
        return dg.SensorResult(skip_reason=f"topic {kafka.dlq_topic!r} does not exist (yet)", cursor=context.cursor)
    limit = kafka.message_limit(kafka.jobs_topic)
    replays = [r for r in (_replayable(context, m, limit) for m in batch.messages) if r is not None]
    kafka.publish(kafka.jobs_topic, replays)  # acknowledged before the cursor moves
    summary = (
        f"replayed {len(replays)} of {len(batch.messages)} dead letters to "
        f"{kafka.jobs_topic!r} ({len(batch.messages) - len(replays)} not replayable)"
    )
    context.log.info(summary)
    return dg.SensorResult(cursor=batch.cursor.to_json(), skip_reason=summary)
