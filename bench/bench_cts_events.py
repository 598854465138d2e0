"""The `cts_job_events` sensor at the broker's pace: parse + route + CTS fetch + requests,
against the consumers it must beat, on the same stream and services, in one run.

Setup (bench/cts_world.py): a Tansu broker, the CTS emulator in its own process
(TCP_NODELAY), N jobs, each with the events ``created``, ``job_submitted``,
``upload_submitted``, ``complete`` (4 per job, 10,000 events for 2,500 jobs), 3 partitions.

- broker pace: read every message (``KafkaResource.read``) and parse it, nothing else:
  the ceiling for any consumer;
- one-at-a-time (the original processor's loop): a consumer group, one message at a time,
  parse, a sequential CTS fetch for ``complete``, route, synchronous commit per message;
- batch consumer: consume 500, parse, fetch the batch's jobs 8 at a time (one thread pool),
  route, one commit per batch;
- sensor: `cts_job_events` ticks back to back on a real (SQLite) instance until the topic
  is drained: parse, dedupe against the instance's partition status, one CTS call per
  tick, route, add the jobs' partitions, build the batched run requests (creating the
  runs is the daemon's work: see bench_cts_e2e.py).

- batch consumer, 1 thread: the same, tuned by hand for a near CTS (informational: the
  best fixed setting here, and the worst against a far CTS);
- fetch alone: the sensor's CTS call for every job and nothing else (what the sensor's own
  work adds to it is the difference).

The sensor's client keeps as many requests in flight as it measures to pay (up to 8;
resources/cts/concurrency.py); the batch consumer keeps 8, as a plain thread pool does.
Each path runs once per round, the rounds interleaved (each starting with another path);
medians are reported. Goals (issue 14): sensor >= 5,000 events/s, and >= 1x the batch
consumer.

    .venv/bin/python bench/bench_cts_events.py [--jobs 2500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cts_world import emulator_process, group_consumer, job_ids, publish, read_and_parse, stream, write_jobs

GOAL_EVENTS_PER_SECOND = 5_000
BROKER = "broker pace (read + parse)"
ONE_AT_A_TIME = "one at a time (original)"
BATCH = "batch consumer (500, 8-way)"
BATCH_TUNED = "batch consumer (500, 1 thread)"
SENSOR = "sensor (cts_job_events)"
FETCH = "fetch alone (the sensor's client)"
STATES = ("created", "job_submitted", "upload_submitted")


def _importers(jobs) -> int:
    """How many of ``jobs`` (documents) an importer takes."""
    from platform_assets.cts.importers import registry

    return sum(1 for job in jobs if isinstance(job, dict) and registry.importer_for_job(job))


def one_at_a_time(kafka, cts, n_events: int) -> tuple[float, int]:
    """The original processor's loop (group join excluded from the time)."""
    consumer = group_consumer(kafka.bootstrap_servers, kafka.jobs_topic, "bench")
    requested, seen, start = 0, 0, None
    try:
        while seen < n_events:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            start = start or time.perf_counter()
            seen += 1
            event = json.loads(message.value() or b"")
            if event.get("state") == "complete":
                requested += _importers([cts.get_job(event["job_id"])])
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    return time.perf_counter() - (start or time.perf_counter()), requested


def batch_consumer(kafka, cts, n_events: int, threads: int = 8) -> tuple[float, int]:
    """Consume 500, fetch the batch's complete jobs ``threads`` at a time (one thread pool
    for the whole run), one commit per batch."""
    from concurrent.futures import ThreadPoolExecutor

    consumer = group_consumer(kafka.bootstrap_servers, kafka.jobs_topic, "bench")
    requested, seen, start = 0, 0, None
    with ThreadPoolExecutor(threads) as fetch:
        try:
            while seen < n_events:
                messages = [m for m in consumer.consume(500, timeout=1.0) if not m.error()]
                if not messages:
                    continue
                start = start or time.perf_counter()
                seen += len(messages)
                complete = []
                for message in messages:
                    event = json.loads(message.value() or b"")
                    if event.get("state") == "complete":
                        complete.append(event["job_id"])
                requested += _importers(fetch.map(cts.get_job, dict.fromkeys(complete)))
                consumer.commit(message=messages[-1], asynchronous=False)
        finally:
            consumer.close()
    return time.perf_counter() - (start or time.perf_counter()), requested


def sensor(kafka, cts, n_events: int) -> tuple[float, int]:
    import dagster as dg

    import sensors.cts.job_events as module
    from platform_assets.definitions import defs  # the whole code location, as in the code server

    requested, cursor, consumed = 0, None, 0
    with dg.instance_for_test() as instance:
        start = time.perf_counter()
        while consumed < n_events:
            with dg.build_sensor_context(
                instance=instance, cursor=cursor, definitions=defs, resources={"kafka": kafka, "cts_client": cts}
            ) as context:
                result = module.cts_job_events(context)
            assert isinstance(result, dg.SensorResult) and result.cursor is not None
            before = consumed
            cursor = result.cursor
            consumed = sum(v["next"] for v in json.loads(cursor)["partitions"].values())
            if consumed == before:
                raise RuntimeError("sensor made no progress")
            requested += sum(int(r.tags["cts/jobs"]) for r in result.run_requests or [])
        return time.perf_counter() - start, requested


def fetch_alone(cts, jobs: list[str]) -> tuple[float, int]:
    """The tick's CTS fetch and nothing else: what the sensor's own work adds to it."""
    start = time.perf_counter()
    fetched = cts.get_jobs(jobs)
    return time.perf_counter() - start, _importers(fetched.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2_500)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    args = parser.parse_args()

    import logging

    logging.getLogger("dagster").setLevel(logging.WARNING)
    from localdev.broker import TansuBroker
    from resources.cts.client import CtsClient
    from resources.cts.kafka import KafkaResource

    jobs = job_ids(args.jobs, "ev")
    messages = stream(jobs, duplicates=1, states=STATES)
    n_events = len(messages)
    times: dict[str, list[float]] = {name: [] for name in (BROKER, ONE_AT_A_TIME, BATCH, BATCH_TUNED, SENSOR, FETCH)}
    with tempfile.TemporaryDirectory() as tmp, TansuBroker() as broker:
        write_jobs(jobs, Path(tmp) / "s3", Path(tmp) / "jobs.json", reports=False)
        with emulator_process(Path(tmp) / "jobs.json", Path(tmp) / "emulator.log") as emulator:
            kafka = KafkaResource(
                bootstrap_servers=broker.bootstrap_servers, jobs_topic="bench-jobs", dlq_topic="bench-dlq"
            )
            publish(broker.bootstrap_servers, kafka.jobs_topic, messages)
            publish(broker.bootstrap_servers, kafka.dlq_topic, [], create=True)
            cts = CtsClient(url=emulator.url, token=emulator.token)
            cts.get_job(jobs[0])  # the emulator has loaded its jobs file
            paths = {
                BROKER: lambda: (read_and_parse(kafka.bootstrap_servers, kafka.jobs_topic, n_events), args.jobs),
                ONE_AT_A_TIME: lambda: one_at_a_time(kafka, cts, n_events),
                BATCH: lambda: batch_consumer(kafka, cts, n_events),
                BATCH_TUNED: lambda: batch_consumer(kafka, cts, n_events, threads=1),
                SENSOR: lambda: sensor(kafka, cts, n_events),
                FETCH: lambda: fetch_alone(cts, jobs),
            }
            for round_ in range(args.rounds):
                order = list(paths)[round_ % len(paths) :] + list(paths)[: round_ % len(paths)]
                for name in order:  # each round starts with another path
                    seconds, requested = paths[name]()
                    if requested != args.jobs:
                        raise RuntimeError(f"{name}: {requested} of {args.jobs} jobs routed")
                    times[name].append(seconds)
            cts.close()

    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"stream: {n_events:,} events, {args.jobs:,} jobs (4 transitions each), 3 partitions")
    print(f"{args.rounds} interleaved rounds; median [min-max]")
    print(f"{'path':36s} {'time':>9s} {'events/s':>10s}   range of time")
    for name, values in times.items():
        spread = f"[{min(values):.2f}-{max(values):.2f}]"
        print(f"{name:36s} {median[name]:8.2f}s {n_events / median[name]:10,.0f}   {spread}")
    sensor_rate = n_events / median[SENSOR]
    ratios = sorted(b / s for b, s in zip(times[BATCH], times[SENSOR], strict=True))
    ratio = median[BATCH] / median[SENSOR]
    print()
    print("goal                                   measured      goal   met")
    met = sensor_rate >= GOAL_EVENTS_PER_SECOND
    print(f"sensor events/s                      {sensor_rate:10,.0f} {GOAL_EVENTS_PER_SECOND:9,}   {met}")
    print(
        f"sensor / batch consumer              {ratio:9.2f}x {1:8}x   {ratio >= 1}"
        f"   (per round {ratios[0]:.2f}x-{ratios[-1]:.2f}x)"
    )
    print(f"sensor / one at a time               {median[ONE_AT_A_TIME] / median[SENSOR]:9.2f}x")
    tuned = median[BATCH_TUNED] / median[SENSOR]
    print(f"sensor / batch consumer, 1 thread    {tuned:9.2f}x (tuned by hand for a near CTS; informational)")
    print(f"sensor / broker pace                 {median[BROKER] / median[SENSOR]:9.2f}x (distance to the ceiling)")
    print(f"sensor's own work (sensor - fetch)   {median[SENSOR] - median[FETCH]:9.2f}s")


if __name__ == "__main__":
    main()
