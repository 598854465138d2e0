"""CTS end to end on the deployed path: a real `dagster-daemon` on a real instance (SQLite,
and PostgreSQL as in k8s), from the first event published until every expected row is in
the Delta table; against the original processor's design on the same stream and services;
then the re-import of every job after an importer fix, as one batched backfill against one
run per job. All goals of issue 14 printed side by side at the end.

Setup (bench/cts_world.py): a Tansu broker, the CTS emulator in its own process
(TCP_NODELAY), CheckM2 jobs (5 genomes each) whose reports lie in a local stand-in for the
CTS S3, a Delta lake on disk. The stream: per job ``created`` then ``complete`` three
times (at-least-once duplicates): 2,500 jobs -> 10,000 events. The daemon runs the
repository's `dagster.yaml` (queued runs, at most 4 at once, 2 per importer) with the
code location of `workspace.yaml`, exactly as `make dev` does; the sensor, the run
queue, the run launcher (a process per run) and the runs are the product's.

- platform: publish the stream, wait until the table holds every job's rows. A warm-up
  job imported first makes sure the code location is loaded (not timed).
- original design (the processor this platform replaces): a consumer group, one message
  at a time, for each ``complete`` (duplicates included) fetch the job, start a Spark
  session, read the report with Spark, MERGE it (a commit), stop Spark, commit the
  offset. Its per-message cost is measured for ``--baseline-seconds`` and projected to
  the whole stream (running it to the end would take hours).
- re-import after an importer fix: `python -m platform_assets.cts.reimport checkm2
  --force` (one asset backfill of every imported job, tag platform/force=true: every
  partition recomputes, as after a code change), run by the daemon in chunks of the
  asset's backfill policy; against one forced run per job (``--reimport-baseline-jobs``
  of them, the same way: one forced run per partition, from submission to the last
  materialization, per job).
- the limit: the same topic read from its beginning and parsed, nothing else
  (``cts_world.read_and_parse``); the end-to-end rate is printed as a fraction of it.

    .venv/bin/python bench/bench_cts_e2e.py [--jobs 2500] [--storage sqlite,postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cts_world import (
    GENOMES_PER_JOB,
    REPO,
    Emulator,
    emulator_process,
    group_consumer,
    job_ids,
    publish,
    read_and_parse,
    stream,
    write_jobs,
)

from platform_assets.provenance.dagster_internals import ASSET_PARTITION_RANGE_START_TAG, PARTITION_NAME_TAG
from tests.support.processes import wait_until

GOALS = {"events_per_second": 500, "vs_original": 20, "reimport_vs_run_per_job": 50}
DUPLICATES = 3
TABLE = "cts/checkm2"


@dataclass
class World:
    tmp: Path
    bootstrap: str
    emulator: Emulator
    topic: str
    dlq_topic: str

    @property
    def outputs_url(self) -> str:
        return f"file://{self.tmp}/s3"

    @property
    def lake_url(self) -> str:
        return f"file://{self.tmp}/lake"

    def rows(self, table: str = TABLE) -> int:
        from deltalake import DeltaTable

        uri = f"{self.tmp}/lake/{table}"
        if not DeltaTable.is_deltatable(uri):
            return 0
        return DeltaTable(uri).to_pyarrow_dataset().count_rows()


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    instance: object = None
    log: Path = field(default_factory=Path)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return self._run([str(Path(sys.executable).with_name("dagster")), *args, "-w", "workspace.yaml"])

    def module(self, *args: str) -> subprocess.CompletedProcess:
        """``python -m <args>`` in the deployment's environment (DAGSTER_HOME, services)."""
        return self._run([sys.executable, "-m", *args])

    def _run(self, command: list[str]) -> subprocess.CompletedProcess:
        answer = subprocess.run(command, env=self.env, cwd=REPO, capture_output=True, text=True, timeout=600)
        if answer.returncode != 0:
            raise RuntimeError(f"{command[-3:]} failed: {answer.stdout[-2000:]} {answer.stderr[-2000:]}")
        return answer


def instance_yaml(storage: str, postgres_url: str | None) -> dict:
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    if storage == "postgres":
        config["storage"] = {"postgres": {"postgres_url": postgres_url}}
    return config


@contextlib.contextmanager
def deployment(world: World, storage: str, postgres_url: str | None) -> Iterator[Deployment]:
    """A DAGSTER_HOME with the repository's dagster.yaml (+ storage) and a running
    `dagster-daemon run -w workspace.yaml` with the platform's environment."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    from localdev.processes import interruptible_process_group, stop_process_group

    home = world.tmp / f"dagster-{storage}"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml(storage, postgres_url)))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PLATFORM_HOME": str(world.tmp / "platform"),
        "PLATFORM_LAKE_URL": world.lake_url,
        "CTS_OUTPUTS_URL": world.outputs_url,
        "KAFKA_BOOTSTRAP_SERVERS": world.bootstrap,
        "CTS_JOBS_TOPIC": world.topic,
        "CTS_JOBS_DLQ_TOPIC": world.dlq_topic,
        "CTS_URL": world.emulator.url,
        "CTS_ADMIN_TOKEN": world.emulator.token,
    }
    log = world.tmp / f"daemon-{storage}.log"
    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
        env=env,
        cwd=REPO,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        preexec_fn=interruptible_process_group,
    )
    try:
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            yield Deployment(home, env, instance, log)
    finally:
        stop_process_group(daemon, 30)


def import_through_daemon(world: World, jobs: list[str]) -> float:
    """Publish the stream of ``jobs``; seconds until the table holds all their rows."""
    expected = world.rows() + len(jobs) * GENOMES_PER_JOB
    messages = stream(jobs, DUPLICATES)
    start = time.perf_counter()
    publish(world.bootstrap, world.topic, messages, create=False)
    wait_until(lambda: world.rows() >= expected, 3_600, f"{len(jobs)} jobs imported", interval=0.5)
    return time.perf_counter() - start


def run_records(instance, since: float) -> list:
    import datetime as dt

    import dagster as dg

    created_after = dt.datetime.fromtimestamp(since, tz=dt.UTC)
    return list(instance.get_run_records(dg.RunsFilter(created_after=created_after)))


def run_stats(instance, since: float) -> dict:
    statuses: dict[str, int] = {}
    records = run_records(instance, since)
    for record in records:
        statuses[record.dagster_run.status.value] = statuses.get(record.dagster_run.status.value, 0) + 1
    ticks = sensor_ticks(instance)
    return {
        "runs": len(records),
        "statuses": statuses,
        "creation_s": run_creation_seconds(ticks, records),
        "timeline_s": drain_timeline(ticks, records, since),
    }


def sensor_ticks(instance) -> list:
    """The `cts_job_events` sensor's last ticks, from the instance."""
    from sensors.cts.job_events import SENSOR_NAME

    state = next(s for s in instance.all_instigator_state() if s.name == SENSOR_NAME)
    return list(instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1_000))


def drain_timeline(ticks: list, records: list, since: float) -> dict:
    """Seconds after publishing at which the first tick that requested runs started (the
    sensor ticks every few seconds, so up to its interval passes before it), its runs were
    created and the last of them started: where a drain's time goes."""
    requesting = [t.timestamp for t in ticks if t.run_ids and t.timestamp >= since]
    started = [r.start_time for r in records if r.start_time]
    return {
        "first_tick": round(min(requesting) - since, 1) if requesting else None,
        "runs_created": round(max(r.create_timestamp.timestamp() for r in records) - since, 1) if records else None,
        "runs_started": round(max(started) - since, 1) if started else None,
    }


def run_creation_seconds(ticks: list, records: list) -> float:
    """Seconds the daemon spent creating the drain's runs: per sensor tick, from its first
    run's creation to the tick's end. Creating a run writes one planned-materialization
    event per partition (Dagster's partition status needs them), in one write per run on
    the platform's instance."""
    created = {r.dagster_run.run_id: r.create_timestamp.timestamp() for r in records}
    total = 0.0
    for tick in ticks:
        starts = [created[run_id] for run_id in tick.run_ids if run_id in created]
        if starts and tick.end_timestamp:
            total += tick.end_timestamp - min(starts)
    return total


def original_design(world: World, jobs: list[str], budget: float) -> tuple[float, int, int]:
    """The original processor on the same stream: returns (seconds, messages handled,
    complete messages handled) after ``budget`` seconds (or the whole stream)."""
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from resources.cts.client import CtsClient
    from resources.cts.lake import DeltaLake
    from resources.cts.outputs import CtsObjectStore
    from resources.cts.spark import spark_config

    cts = CtsClient(url=world.emulator.url, token=world.emulator.token)
    store = CtsObjectStore(url=world.outputs_url)
    lake = DeltaLake(url=world.lake_url)
    consumer = group_consumer(world.bootstrap, world.topic, "original")
    handled = complete = 0
    start = None
    wanted = set(jobs)
    try:
        while start is None or time.perf_counter() - start < budget:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            start = start or time.perf_counter()
            event = json.loads(message.value() or b"{}")
            if event["job_id"] not in wanted:  # the platform's own part of the topic
                consumer.commit(message=message, asynchronous=False)
                continue
            handled += 1
            if event["state"] == "complete":
                complete += 1
                job = cts.get_job(event["job_id"])
                local = world.tmp / "original" / f"{event['job_id']}.tsv"
                local.parent.mkdir(exist_ok=True)
                local.write_bytes(store.read_bytes(job["outputs"][0]["file"]))
                builder = SparkSession.builder
                for key, value in spark_config("local[*]").items():
                    builder = builder.config(key, value)
                spark = builder.getOrCreate()
                spark.sparkContext.setLogLevel("ERROR")
                table = spark.read.csv(str(local), sep="\t", header=True, inferSchema=True).toArrow()
                table = table.append_column("cts_job_id", pa.array([event["job_id"]] * table.num_rows))
                lake.merge("cts/checkm2_original", table, ["cts_job_id", "Name"])
                spark.stop()
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
        cts.close()
    return time.perf_counter() - (start or time.perf_counter()), handled, complete


def materializations(instance, since_storage_id: int) -> int:
    import dagster as dg

    from platform_assets.cts.importers import checkm2

    count, cursor = 0, None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=checkm2.IMPORTER.asset_key, after_storage_id=since_storage_id),
            limit=1000,
            cursor=cursor,
        )
        count += len(page.records)
        if not page.has_more:
            return count
        cursor = page.cursor


def latest_storage_id(instance) -> int:
    import dagster as dg

    from platform_assets.cts.importers import checkm2

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=checkm2.IMPORTER.asset_key), limit=1
    ).records
    return records[0].storage_id if records else 0


def reimport_backfill(deployment: Deployment, jobs: int) -> tuple[float, int]:
    """The product's re-import (``python -m platform_assets.cts.reimport checkm2 --force``:
    one asset backfill of every partition, every partition recomputed as after an importer
    fix) through the daemon: (seconds from its submission until each partition has a new
    materialization, runs it took). The command's own start (loading the code location)
    is not counted."""
    since_id, since = latest_storage_id(deployment.instance), time.time()
    deployment.module("platform_assets.cts.reimport", "checkm2", "--force")
    start = time.perf_counter()
    wait_until(lambda: materializations(deployment.instance, since_id) >= jobs, 7_200, "the re-import", interval=1.0)
    seconds = time.perf_counter() - start
    runs = run_records(deployment.instance, since)
    kinds = [("range" if ASSET_PARTITION_RANGE_START_TAG in r.dagster_run.tags else "single") for r in runs]
    print(f"  backfill runs: {kinds.count('range')} over a range, {kinds.count('single')} single", flush=True)
    for record in runs[:3]:
        print(f"    {record.dagster_run.job_name} {dict(record.dagster_run.tags)}", flush=True)
    return seconds, len(runs)


def reimport_run_per_job(deployment: Deployment, partitions: list[str]) -> float:
    """One forced run per job through the same daemon and queue: `dagster job backfill
    --partitions ...` creates one run per partition; the queue runs them as any import (at
    most 2 per importer at once). Per job: from the first run's creation to the last run's
    end, divided by the runs (the CLI's own start, loading the code location, is before
    the first creation and not counted)."""
    since = time.time()
    tags = json.dumps({"platform/force": "true"})
    deployment.cli(
        "job",
        "backfill",
        "-j",
        "cts_import_checkm2",
        "--partitions",
        ",".join(partitions),
        "--noprompt",
        "--tags",
        tags,
    )

    def ended() -> list:
        runs = run_records(deployment.instance, since)
        return runs if len(runs) >= len(partitions) and all(r.end_time for r in runs) else []

    runs = wait_until(ended, 3_600, "the per-job runs to end", interval=0.2)
    single = sum(1 for r in runs if PARTITION_NAME_TAG in r.dagster_run.tags)
    span = max(r.end_time for r in runs) - min(r.create_timestamp.timestamp() for r in runs)
    print(f"  one run per job: {len(runs)} runs ({single} of a single partition) in {span:.1f}s", flush=True)
    return span / len(runs)


def postgres_server(tmp: Path):
    from tests.support.postgres import start_postgres

    return start_postgres(tmp / "postgres")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2_500)
    parser.add_argument("--storage", default="sqlite,postgres")
    parser.add_argument("--baseline-seconds", type=float, default=90.0)
    parser.add_argument("--reimport-baseline-jobs", type=int, default=12)
    args = parser.parse_args()

    from localdev.broker import TansuBroker

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cts-e2e-") as tmp_name, TansuBroker() as broker:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)  # PostgreSQL runs as its own user (tests/support/postgres.py) and must reach its dir
        baseline: tuple[float, int, int] | None = None
        for storage in args.storage.split(","):
            run = tmp / storage
            run.mkdir()
            jobs = job_ids(args.jobs, f"{storage}-j")
            warm = job_ids(1, f"{storage}-warm")
            write_jobs(jobs + warm, run / "s3", run / "jobs.json")
            with emulator_process(run / "jobs.json", run / "emulator.log") as emulator:
                world = World(run, broker.bootstrap_servers, emulator, f"cts-jobs-{storage}", f"cts-dlq-{storage}")
                publish(broker.bootstrap_servers, world.topic, [])
                publish(broker.bootstrap_servers, world.dlq_topic, [])
                server = None
                if storage == "postgres":
                    server, data_dir = postgres_server(run)
                try:
                    url = server.create_database("dagster") if server else None
                    with deployment(world, storage, url) as deployed:
                        print(f"[{storage}] daemon started; warming up (code location load, first import)", flush=True)
                        warm_s = import_through_daemon(world, warm)
                        print(f"[{storage}] warm-up import: {warm_s:.1f}s", flush=True)
                        since = time.time()
                        drain_s = import_through_daemon(world, jobs)
                        stats = run_stats(deployed.instance, since)
                        print(f"[{storage}] {len(jobs) * 4:,} events drained in {drain_s:.1f}s; {stats}", flush=True)
                        reimport_s, reimport_runs = reimport_backfill(deployed, len(jobs) + 1)
                        print(
                            f"[{storage}] forced backfill of {len(jobs) + 1} jobs: {reimport_s:.1f}s in "
                            f"{reimport_runs} runs",
                            flush=True,
                        )
                        sample = jobs[: args.reimport_baseline_jobs]
                        per_job_s = reimport_run_per_job(deployed, sample)
                        print(f"[{storage}] one run per job: {per_job_s:.2f}s per job", flush=True)
                    topic_events = (len(jobs) + len(warm)) * (1 + DUPLICATES)
                    limit_s = read_and_parse(broker.bootstrap_servers, world.topic, topic_events) / topic_events
                    if baseline is None:
                        print("[original] one message at a time, Spark session per job...", flush=True)
                        baseline = original_design(world, jobs, args.baseline_seconds)
                        print(
                            f"[original] {baseline[1]} messages, {baseline[2]} imports in {baseline[0]:.1f}s",
                            flush=True,
                        )
                finally:
                    if server is not None:
                        from tests.support.postgres import stop_postgres

                        stop_postgres(server, data_dir)
            results[storage] = {
                "drain_s": drain_s,
                "creation_s": stats["creation_s"],
                "reimport_s": reimport_s,
                "reimport_runs": reimport_runs,
                "per_job_s": per_job_s,
                "runs": stats["runs"],
                "limit_events_per_s": 1 / limit_s,
            }

    events = args.jobs * (1 + DUPLICATES)
    assert baseline is not None
    seconds, handled, complete = baseline
    per_complete = seconds / max(complete, 1)  # nearly all of its time goes to complete events
    original_s = per_complete * args.jobs * DUPLICATES
    print()
    print(f"stream: {events:,} events for {args.jobs:,} jobs (created + complete x{DUPLICATES}), 3 partitions")
    print(
        f"original design: {handled} messages ({complete} imports) in {seconds:.0f}s -> {per_complete:.1f}s per "
        f"complete event; projected for the stream: {original_s / 3600:.1f} h = {events / original_s:.2f} events/s"
    )
    print()
    header = f"{'goal':44s} {'storage':9s} {'measured':>12s} {'goal':>8s}  met"
    print(header)
    for storage, r in results.items():
        rate = events / r["drain_s"]
        rows = [
            ("end to end events/s drained", f"{rate:,.0f}", f"{GOALS['events_per_second']:,}", rate >= 500),
            (
                "end to end vs original design",
                f"{original_s / r['drain_s']:,.0f}x",
                "20x",
                original_s / r["drain_s"] >= 20,
            ),
            (
                "re-import vs one run per job",
                f"{r['per_job_s'] * (args.jobs + 1) / r['reimport_s']:,.1f}x",
                "50x",
                r["per_job_s"] * (args.jobs + 1) / r["reimport_s"] >= 50,
            ),
        ]
        for name, measured, goal, met in rows:
            print(f"{name:44s} {storage:9s} {measured:>12s} {goal:>8s}  {met}")
        limit = r["limit_events_per_s"]
        print(
            f"  [{storage}] limit (raw consume + parse of the same topic): {limit:,.0f} events/s; "
            f"end to end is {rate / limit:.1%} of it ({limit / rate:,.1f}x below)"
        )
        creation = r["creation_s"]
        print(
            f"  [{storage}] limit (run creation, one planned event per partition): {creation:.1f}s for "
            f"{args.jobs:,} partitions = {creation / args.jobs * 1000:.1f} ms each; alone it caps the drain at "
            f"{events / creation:,.0f} events/s"
        )
        print(
            f"  [{storage}] time to last row {r['drain_s']:.1f}s, {args.jobs / r['drain_s']:.1f} jobs/s, "
            f"{r['runs']} runs; "
            f"re-import {r['reimport_s']:.1f}s ({(args.jobs + 1) / r['reimport_s']:.1f} jobs/s) vs "
            f"{r['per_job_s']:.2f}s per job with a run each"
        )


if __name__ == "__main__":
    main()
