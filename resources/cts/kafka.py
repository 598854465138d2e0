"""Kafka for sensors: bounded reads from explicit offsets, and durable publishes.

Sensors never join a consumer group and never commit offsets: the position lives in the
sensor cursor (:class:`TopicCursor`) and only moves when a tick succeeds, so a failed
tick re-reads its messages. Reads are bounded in messages and seconds and end as soon
as every partition reported its end (librdkafka's partition EOF), or when nothing came
within a short idle timeout (high watermarks are not trusted: the embedded Tansu broker
under-reports them).

A stored position can vanish: the topic was deleted and recreated, retention dropped it,
or the broker lost its memory (Tansu). Each partition position therefore remembers a
fingerprint of the last message read; a read first re-reads that message, and when it is
gone or different the partition is *reset* to its beginning (replays are harmless:
consumers dedupe by run key).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from resources.lazy_imports import lazy_import
from resources.settings import DEFAULT_CTS_JOBS_DLQ_TOPIC, DEFAULT_CTS_JOBS_TOPIC

if TYPE_CHECKING:
    import confluent_kafka as kafka
else:
    kafka = lazy_import("confluent_kafka")  # the client library, loaded on first use

log = logging.getLogger(__name__)

PRODUCER_MESSAGE_MAX_BYTES = 1_000_000  # librdkafka's default message.max.bytes
DESCRIBE_TTL_SECONDS = 600.0  # a topic's max.message.bytes (or that it was not described), this long
# (bootstrap servers, topic) -> (time.monotonic() when described, max.message.bytes)
_DESCRIBED_LIMITS: dict[tuple[str, str], tuple[float, int | None]] = {}
POLL_SECONDS = 0.05  # one consume() call of a read; ends and idleness are noticed this fast


class KafkaPublishError(Exception):
    """Some messages were not acknowledged by the broker (nothing may be assumed durable)."""


# --- cursor ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PartitionPosition:
    """Next offset to read and a fingerprint of the message just before it."""

    next_offset: int
    fingerprint: str


@dataclasses.dataclass(frozen=True)
class TopicCursor:
    """Per-partition positions in one topic; serialized as JSON in a sensor cursor.

    A partition without a position is read from its beginning.
    """

    positions: dict[int, PartitionPosition] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: str | None) -> TopicCursor:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(
                {
                    int(p): PartitionPosition(int(v["next"]), str(v.get("fp") or ""))
                    for p, v in data["partitions"].items()
                }
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"unreadable Kafka sensor cursor {raw[:200]!r}: {e}") from e

    def to_json(self) -> str:
        return json.dumps(
            {
                "partitions": {
                    str(p): {"next": pos.next_offset, "fp": pos.fingerprint}
                    for p, pos in sorted(self.positions.items())
                }
            },
            sort_keys=True,
        )


def fingerprint(message: kafka.Message) -> str:
    """Identity of a message beyond its offset: broker timestamp + value hash."""
    digest = hashlib.sha256(message.value() or b"")
    digest.update(str(message.timestamp()[1]).encode())
    return digest.hexdigest()[:16]


@dataclasses.dataclass
class TopicBatch:
    """What one bounded read returned.

    ``messages`` are in offset order per partition; ``cursor`` is the position after all
    of them (store it only once their effects are durable). ``reset_partitions`` lost
    their stored position and restart from the beginning at the next read.
    """

    messages: list[kafka.Message]
    cursor: TopicCursor
    reset_partitions: list[int]
    topic_exists: bool = True


# --- resource ----------------------------------------------------------------------------
class KafkaResource(dg.ConfigurableResource):
    """Kafka connection and topic names (``KAFKA_BOOTSTRAP_SERVERS``, ``CTS_JOBS_TOPIC``,
    ``CTS_JOBS_DLQ_TOPIC``). ``client_config`` passes extra librdkafka settings (e.g.
    ``security.protocol``); put secrets there only through ``dg.EnvVar``."""

    bootstrap_servers: str
    jobs_topic: str = DEFAULT_CTS_JOBS_TOPIC
    dlq_topic: str = DEFAULT_CTS_JOBS_DLQ_TOPIC
    client_config: dict[str, str] = {}
    flush_timeout_seconds: float = 15.0
    metadata_timeout_seconds: float = 5.0
    # an upper bound of our own for published messages (None: what producer and topic allow)
    max_message_bytes: int | None = None

    def _config(self, **extra: Any) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap_servers, "log_level": 3, **self.client_config, **extra}

    # --- consuming ---------------------------------------------------------------------
    @contextlib.contextmanager
    def consumer(self) -> Iterator[kafka.Consumer]:
        """A consumer for explicit ``assign()``: it never commits and never joins a group
        (librdkafka insists on a ``group.id``, which stays unused)."""
        consumer = kafka.Consumer(
            self._config(
                **{
                    # the broker answers a fetch at the partition's end after this wait, and
                    # only then reports the end: a bounded read should not wait 500 ms for it
                    "fetch.wait.max.ms": 20,
                    **self.client_config,  # ...unless configured otherwise
                    "group.id": "platform-sensor-no-commit",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": "earliest",
                    "enable.partition.eof": True,
                    "allow.auto.create.topics": False,
                }
            )
        )
        try:
            yield consumer
        finally:
            consumer.close()

    def partitions(self, consumer: kafka.Consumer, topic: str) -> list[int] | None:
        """Partition ids of ``topic``, or None when the topic does not exist."""
        metadata = consumer.list_topics(topic, timeout=self.metadata_timeout_seconds)
        info = metadata.topics.get(topic)
        if info is None or (info.error and info.error.code() == kafka.KafkaError.UNKNOWN_TOPIC_OR_PART):
            return None
        if info.error:
            raise kafka.KafkaException(info.error)
        return sorted(info.partitions)

    def read(
        self,
        topic: str,
        cursor: TopicCursor,
        *,
        max_messages: int = 500,
        max_seconds: float = 10.0,
        idle_seconds: float = 1.0,
    ) -> TopicBatch:
        """Read at most ``max_messages`` from ``cursor`` for at most ``max_seconds``.

        Stops early once every partition reported its end (caught up), or nothing came
        for ``idle_seconds`` (a broker that reports no ends). Never commits anything.
        """
        with self.consumer() as consumer:
            parts = self.partitions(consumer, topic)
            if parts is None:
                return TopicBatch([], cursor, [], topic_exists=False)
            positions = {p: pos for p, pos in cursor.positions.items() if p in parts}
            dropped = sorted(set(cursor.positions) - set(parts))
            if dropped:
                log.warning("topic %s no longer has partitions %s; forgetting them", topic, dropped)
            # a position without fingerprint (set by hand) is trusted as it is
            verifying = {p: pos for p, pos in positions.items() if pos.next_offset > 0 and pos.fingerprint}
            consumer.assign(
                [
                    kafka.TopicPartition(
                        topic,
                        p,
                        verifying[p].next_offset - 1
                        if p in verifying
                        else positions[p].next_offset
                        if p in positions
                        else kafka.OFFSET_BEGINNING,
                    )
                    for p in parts
                ]
            )
            messages: list[kafka.Message] = []
            resets: list[int] = []
            at_end: set[int] = set()
            caught_up = False
            deadline = time.monotonic() + max_seconds
            last_news = time.monotonic()  # of the last message or end-of-partition
            while len(messages) < max_messages and (now := time.monotonic()) < deadline:
                if now - last_news >= idle_seconds:
                    caught_up = True
                    break
                # short polls: consume() waits its whole timeout for a full batch, so one
                # long poll would sit out the idle time even after every partition's end
                polled = consumer.consume(
                    min(500, max_messages - len(messages)),
                    timeout=min(POLL_SECONDS, idle_seconds - (now - last_news), deadline - now),
                )
                if not polled:
                    continue
                last_news = time.monotonic()
                for message in polled:
                    p = message.partition()
                    offset = message.offset()
                    assert p is not None and offset is not None  # consumed messages have both
                    error = message.error()
                    if error is not None:
                        if error.code() != kafka.KafkaError._PARTITION_EOF:
                            raise kafka.KafkaException(error)
                        at_end.add(p)
                        if p in verifying:  # the remembered message is beyond the end
                            resets.append(p)
                            del verifying[p]
                        continue
                    at_end.discard(p)
                    if p in resets:
                        continue
                    if p in verifying:
                        expected = verifying.pop(p)
                        if offset != expected.next_offset - 1 or fingerprint(message) != expected.fingerprint:
                            resets.append(p)
                        continue
                    messages.append(message)
                    positions[p] = PartitionPosition(offset + 1, fingerprint(message))
                if at_end >= set(parts) - set(resets):
                    caught_up = True
                    break
            # a caught-up read returned nothing for a remembered message: it is gone when
            # even the (possibly under-reported) high watermark is below its position
            for p, expected in verifying.items() if caught_up else ():
                _, high = consumer.get_watermark_offsets(
                    kafka.TopicPartition(topic, p), timeout=self.metadata_timeout_seconds, cached=False
                )
                if high < expected.next_offset:
                    resets.append(p)
            for p in resets:
                log.warning(
                    "topic %s partition %d: stored offset %d is gone (topic reset?); restarting from the beginning",
                    topic,
                    p,
                    cursor.positions[p].next_offset,
                )
                positions.pop(p, None)
            return TopicBatch(messages, TopicCursor(positions), sorted(resets))

    # --- producing ---------------------------------------------------------------------
    def message_limit(self, topic: str) -> int:
        """The largest message (value + headers) that can be published to ``topic``: the
        smallest of the producer's ``message.max.bytes`` (librdkafka's default 1,000,000,
        or ``client_config``), the topic's ``max.message.bytes`` as the broker describes
        it, and ``max_message_bytes``. A broker that cannot describe the topic (e.g. it
        does not exist yet) leaves the other bounds."""
        limits = [int(self.client_config.get("message.max.bytes", PRODUCER_MESSAGE_MAX_BYTES))]
        if self.max_message_bytes:
            limits.append(self.max_message_bytes)
        described = self._described_message_max_bytes(topic)
        if described:
            limits.append(described)
        return min(limits)

    def _described_message_max_bytes(self, topic: str) -> int | None:
        """The topic's described limit, asked at most once per ``DESCRIBE_TTL_SECONDS`` per
        process: Dagster builds a sensor's resources anew for every tick, so a cache on the
        resource would ask the broker (a new admin client) on every tick."""
        key = (self.bootstrap_servers, topic)
        cached = _DESCRIBED_LIMITS.get(key)
        if cached is not None and time.monotonic() - cached[0] < DESCRIBE_TTL_SECONDS:
            return cached[1]
        described = self._topic_message_max_bytes(topic)  # None: not described (the other bounds hold)
        _DESCRIBED_LIMITS[key] = (time.monotonic(), described)
        return described

    def _topic_message_max_bytes(self, topic: str) -> int | None:
        from confluent_kafka.admin import AdminClient, ConfigResource

        admin = AdminClient(self._config())
        try:
            [future] = admin.describe_configs(
                [ConfigResource(ConfigResource.Type.TOPIC, topic)], request_timeout=self.metadata_timeout_seconds
            ).values()
            entry = future.result(self.metadata_timeout_seconds).get("max.message.bytes")
            return int(entry.value) if entry is not None and entry.value else None
        except Exception as e:  # not described: the producer's bound still holds
            log.warning("cannot describe topic %s (%s); using the producer's message limit", topic, type(e).__name__)
            return None

    def producer(self) -> kafka.Producer:
        """An idempotent producer (acks=all): retries never duplicate or reorder."""
        return kafka.Producer(self._config(**{"enable.idempotence": True, "acks": "all", "linger.ms": 5}))

    def publish(self, topic: str, messages: Iterable[tuple[bytes, Sequence[tuple[str, bytes]] | None]]) -> int:
        """Produce ``(value, headers)`` pairs and wait until the broker acknowledged all.

        Raises :class:`KafkaPublishError` when any message was not acknowledged within
        ``flush_timeout_seconds``: callers must then not move their cursor.
        """
        messages = list(messages)
        if not messages:
            return 0
        failures: list[str] = []

        def on_delivery(err, _msg) -> None:
            if err is not None:
                failures.append(str(err))

        producer = self.producer()
        for value, headers in messages:
            while True:
                try:
                    producer.produce(topic, value=value, headers=list(headers or []), on_delivery=on_delivery)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.5)
                except kafka.KafkaException as e:
                    raise KafkaPublishError(f"{topic}: cannot produce: {e}") from e
        remaining = producer.flush(self.flush_timeout_seconds)
        if remaining or failures:
            raise KafkaPublishError(
                f"{topic}: {remaining} of {len(messages)} messages unacknowledged after "
                f"{self.flush_timeout_seconds}s; delivery errors: {failures[:3]}"
            )
        return len(messages)
