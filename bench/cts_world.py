"""The services and the event stream the CTS benchmarks share (not a benchmark itself).

- a Tansu broker (memory storage) on 127.0.0.1;
- the CTS emulator in a process of its own (``python -m localdev.cts_emulator`` with a
  jobs file), so it never shares the GIL with what is measured; TCP_NODELAY is on
  (with Nagle, delayed ACKs stall every small answer ~40 ms and the benchmark would
  time the stall);
- CheckM2 jobs whose reports lie in a local stand-in for the CTS S3 (``file://``), each
  below its job's ``output_dir``;
- the stream: per job ``created`` then ``complete`` delivered ``duplicates`` times
  (at-least-once delivery), jobs spread over 3 partitions, job order interleaved.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
GENOMES_PER_JOB = 5
PARTITIONS = 3


def job_ids(count: int, prefix: str) -> list[str]:
    return [f"{prefix}-{i:06d}" for i in range(count)]


def stream(jobs: list[str], duplicates: int, states: tuple[str, ...] = ("created",)) -> list[tuple[int, bytes]]:
    """(partition, value) of every message: for each job its ``states`` then ``complete``
    ``duplicates`` times; the second and third copies come one "round" later, as
    redeliveries do."""
    messages: list[tuple[int, bytes]] = []
    for copy in range(duplicates):
        for i, job in enumerate(jobs):
            names = [*states, "complete"] if copy == 0 else ["complete"]
            for state in names:
                event = {
                    "job_id": job,
                    "state": state,
                    "time": "2024-03-24T12:00:00+00:00",
                    "trans_id": f"{job}-{state}",
                }
                messages.append((i % PARTITIONS, json.dumps(event).encode()))
    return messages


def publish(bootstrap: str, topic: str, messages: list[tuple[int, bytes]], create: bool = True) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    if create:
        admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive for the futures
        for future in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
            future.result(10)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    for partition, value in messages:
        while True:
            try:
                producer.produce(topic, value=value, partition=partition)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0


def write_jobs(jobs: list[str], outputs_root: Path, jobs_file: Path, reports: bool = True) -> None:
    """Job documents (and their report files under ``outputs_root``/<bucket>/...)."""
    from localdev.cts_emulator import job_document
    from platform_assets.cts.checksums import crc64nvme_b64
    from platform_assets.cts.demo import _checkm2_report
    from platform_assets.cts.importers import checkm2

    documents = []
    for i, job in enumerate(jobs):
        folder = f"cts-data/bench/{job}"
        outputs = []
        if reports:
            data = _checkm2_report(i, GENOMES_PER_JOB)
            path = outputs_root / folder / "quality_report.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            outputs = [{"file": f"{folder}/quality_report.tsv", "crc64nvme": crc64nvme_b64(data)}]
        documents.append(job_document(job, image_name=checkm2.IMPORTER.image_name, outputs=outputs, output_dir=folder))
    existing = json.loads(jobs_file.read_text()) if jobs_file.exists() else []
    jobs_file.write_text(json.dumps(existing + documents))


@dataclass
class Emulator:
    url: str
    token: str
    jobs_file: Path


@contextlib.contextmanager
def emulator_process(jobs_file: Path, log: Path) -> Iterator[Emulator]:
    """The CTS emulator serving (and re-reading) ``jobs_file``, in its own process."""
    from localdev.broker import free_port, wait_for_port
    from localdev.cts_emulator import process_command
    from localdev.processes import interruptible_process_group, stop_process_group

    if not jobs_file.exists():
        jobs_file.write_text("[]")
    port = free_port()
    process = subprocess.Popen(
        process_command(port, TOKEN, jobs_file),
        cwd=REPO,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        preexec_fn=interruptible_process_group,
    )
    try:
        wait_for_port(port, 60)
        yield Emulator(f"http://127.0.0.1:{port}", TOKEN, jobs_file)
    finally:
        stop_process_group(process, 10)


def group_consumer(bootstrap: str, topic: str, group_prefix: str):
    """A consumer in a fresh group, from the topic's beginning, committing by hand: how
    the consumers these benchmarks compare against read the stream."""
    import uuid

    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{group_prefix}-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    return consumer


def read_and_parse(bootstrap: str, topic: str, n_events: int) -> float:
    """Seconds to read ``n_events`` messages of ``topic`` from its beginning
    (``KafkaResource.read``) and parse each (``parse_event``), nothing else: the ceiling
    of any consumer of the stream, against which the benchmarks state their distance to
    the limit."""
    from platform_assets.cts.events import BadEvent, parse_event
    from resources.cts.kafka import KafkaResource, TopicCursor

    kafka = KafkaResource(bootstrap_servers=bootstrap, jobs_topic=topic, dlq_topic=f"{topic}-unused")
    start = time.perf_counter()
    batch = kafka.read(topic, TopicCursor(), max_messages=n_events, max_seconds=120, idle_seconds=1.0)
    for message in batch.messages:
        try:
            parse_event(message.value())
        except BadEvent:
            pass
    if len(batch.messages) != n_events:
        raise RuntimeError(f"read {len(batch.messages)} of {n_events} messages")
    return time.perf_counter() - start
