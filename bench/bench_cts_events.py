"""Throughput of the `cts_job_events` sensor (parse + CTS fetch + route + request) against
the original processor's loop, on the same machine in the same run.

Setup: a Tansu broker, the CTS emulator over HTTP, N events (default 10,000) for N/4
CheckM2 jobs, each job with four transitions (created, job_submitted, upload_submitted,
complete) spread over 3 partitions.

- sensor: consecutive `cts_job_events` ticks (500 messages per tick, 8 concurrent CTS
  fetches, one batched run-key lookup per tick) until the topic is drained.
- baseline: the original loop: a consumer group, one message at a time, parse, a
  sequential CTS fetch for `complete`, route by image name, synchronous offset commit
  after every message (group join time excluded).

    .venv/bin/python bench/bench_cts_events.py [--events 10000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def produce_events(bootstrap: str, topic: str, emulator, n_events: int) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})  # keep it alive for the futures
    for future in admin.create_topics([NewTopic(topic, 3, 1)]).values():
        future.result(10)
    from platform_assets.cts.importers import checkm2

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    states = ["created", "job_submitted", "upload_submitted", "complete"]
    for j in range(n_events // len(states)):
        job_id = f"bench-{j:06d}"
        emulator.add_job(job_id=job_id, image_name=checkm2.IMPORTER.image_name)
        for state in states:
            producer.produce(
                topic,
                json.dumps(
                    {
                        "job_id": job_id,
                        "state": state,
                        "time": "2024-03-24T12:00:00+00:00",
                        "trans_id": f"{job_id}-{state}",
                    }
                ).encode(),
                partition=j % 3,
            )
        producer.poll(0)
    assert producer.flush(30) == 0


def run_sensor(kafka, cts, n_events: int) -> tuple[float, int]:
    import dagster as dg

    from platform_assets.cts.definitions import defs
    from sensors.cts.job_events import cts_job_events

    requested, cursor, consumed = 0, None, 0
    with dg.instance_for_test() as instance:
        start = time.perf_counter()
        while consumed < n_events:
            with dg.build_sensor_context(
                instance=instance, cursor=cursor, definitions=defs, resources={"kafka": kafka, "cts_client": cts}
            ) as ctx:
                result = cts_job_events(ctx)
            assert isinstance(result, dg.SensorResult) and result.cursor is not None
            before = sum(v["next"] for v in json.loads(cursor)["partitions"].values()) if cursor else 0
            cursor = result.cursor
            consumed = sum(v["next"] for v in json.loads(cursor)["partitions"].values())
            if consumed == before:
                raise RuntimeError("sensor made no progress")
            requested += len(result.run_requests or [])
        return time.perf_counter() - start, requested


def run_baseline(kafka, cts, n_events: int) -> tuple[float, int]:
    """One event at a time, like cdm-spark-events' EventLoop (without the import itself)."""
    from confluent_kafka import Consumer

    from platform_assets.cts.importers import registry
    from resources.cts.client import CtsJobNotFound

    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"baseline-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([kafka.jobs_topic])
    requested, seen = 0, 0
    start: float | None = None
    try:
        while seen < n_events:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            start = start or time.perf_counter()  # group join excluded
            seen += 1
            try:
                event = json.loads(message.value() or b"")
            except ValueError:
                consumer.commit(message=message, asynchronous=False)
                continue
            if event.get("state") == "complete":
                try:
                    job = cts.get_job(event["job_id"])
                except CtsJobNotFound:
                    job = None
                if job and registry.importer_for_image(job["image"]["name"]):
                    requested += 1
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    return time.perf_counter() - (start or time.perf_counter()), requested


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()

    from localdev.broker import TansuBroker
    from localdev.cts_emulator import CtsEmulator
    from resources.cts.client import CtsClient
    from resources.cts.kafka import KafkaResource

    with TansuBroker() as broker, CtsEmulator(token="bench") as emulator:
        kafka = KafkaResource(
            bootstrap_servers=broker.bootstrap_servers, jobs_topic="bench-cts-jobs", dlq_topic="bench-cts-jobs-dlq"
        )
        produce_events(broker.bootstrap_servers, kafka.jobs_topic, emulator, args.events)
        cts = CtsClient(url=emulator.url, token="bench")
        sensor_s, sensor_runs = run_sensor(kafka, cts, args.events)
        base_s, base_runs = run_baseline(kafka, cts, args.events)
        cts.close()
    assert sensor_runs == base_runs == args.events // 4, (sensor_runs, base_runs)
    print(f"events: {args.events}, import requests: {sensor_runs}")
    print(f"sensor   : {sensor_s:7.2f} s  {args.events / sensor_s:8.0f} events/s")
    print(
        f"baseline : {base_s:7.2f} s  {args.events / base_s:8.0f} events/s "
        "(one at a time, sequential CTS fetch, commit per message)"
    )
    print(f"ratio sensor/baseline: {base_s / sensor_s:.1f}x")


if __name__ == "__main__":
    main()
