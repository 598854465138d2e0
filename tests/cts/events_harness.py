"""Test harness of the CTS event sensors (tests/cts/test_events_*.py)."""

from __future__ import annotations

import json

import dagster as dg

from platform_assets.cts.importers import checkm2, registry

CHECKM2_IMAGE = checkm2.IMPORTER.image_name
SENSOR_NAME = "cts_job_events"


class EventsHarness:
    """Drives the event sensors like the daemon does, against real services.

    ``tick()`` evaluates `cts_job_events` with the stored cursor, then does what the
    sensor daemon does with a successful result: store the cursor, add the requested
    dynamic partitions and create the requested runs, skipping run keys that already have
    a run. A tick that raises leaves the cursor untouched.
    """

    CHECKM2_IMAGE = CHECKM2_IMAGE

    def __init__(self, instance, kafka, cts, emulator, broker, defs):
        self.instance, self.kafka, self.cts = instance, kafka, cts
        self.emulator, self.broker, self.defs = emulator, broker, defs
        self.cursor: str | None = None
        self.replay_cursor: str | None = None
        self.failure_cursor: str | None = None
        self.runs: list = []  # runs created from run requests, in order

    def configure_cts(self, **changes) -> None:
        """Use a CTS client with these fields changed. A new resource, not ``model_copy``:
        Dagster builds a tick's resources from the configuration a resource was created
        with, so a copy's changed fields would silently not apply."""
        self.cts = type(self.cts)(**{**self.cts.model_dump(), **changes})

    @staticmethod
    def event(job_id: str, state: str = "complete", trans_id: str | None = None) -> dict:
        """A CTS Kafka message as the CTS sends it."""
        return {
            "job_id": job_id,
            "state": state,
            "time": "2024-03-24T12:00:00+00:00",
            "trans_id": trans_id or f"{job_id}-{state}",
        }

    def add_jobs(self, *job_ids: str, image: str | None = None) -> None:
        for job_id in job_ids:
            self.emulator.add_job(job_id=job_id, image_name=image or CHECKM2_IMAGE)

    # --- broker -------------------------------------------------------------------------
    def create_topics(self, partitions: int = 3) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.kafka.bootstrap_servers})
        futures = admin.create_topics(
            [NewTopic(self.kafka.jobs_topic, partitions, 1), NewTopic(self.kafka.dlq_topic, 1, 1)]
        )
        for future in futures.values():
            future.result(10)

    def produce(self, *events, partition: int | None = None) -> list[tuple[int, int]]:
        """Produce events (dicts as JSON, bytes as they are), wait for the acks and return
        their (partition, offset) in order. Messages up to 4 MB (larger than the 1 MB
        default of the platform's own producer: what a misbehaving producer can send)."""
        from confluent_kafka import Producer

        producer = Producer(
            {"bootstrap.servers": self.kafka.bootstrap_servers, "acks": "all", "message.max.bytes": 4_000_000}
        )
        positions: dict[int, tuple[int, int]] = {}

        def delivered(number: int):
            def report(err, message) -> None:
                assert err is None, err
                positions[number] = (message.partition(), message.offset())

            return report

        for number, event in enumerate(events):
            value = event if isinstance(event, bytes) else json.dumps(event).encode()
            producer.produce(
                self.kafka.jobs_topic,
                value=value,
                on_delivery=delivered(number),
                partition=-1 if partition is None else partition,  # -1: the producer's partitioner
            )
        assert producer.flush(10) == 0
        return [positions[n] for n in range(len(events))]

    def read_all(self, topic: str) -> list:
        """Every message of ``topic`` from the beginning (fresh cursor)."""
        from resources.cts.kafka import TopicCursor

        return self.kafka.read(topic, TopicCursor(), max_messages=10_000, idle_seconds=0.5).messages

    def dead_letters(self) -> list[dict]:
        """DLQ messages as dicts: JSON objects as parsed, raw ones as {"raw": bytes}, each
        with the Kafka headers under "headers" and its size under "size"."""
        out = []
        for message in self.read_all(self.kafka.dlq_topic):
            try:
                body = json.loads(message.value())
                body = body if isinstance(body, dict) else {"raw": message.value()}
            except (ValueError, RecursionError):
                body = {"raw": message.value()}
            headers = message.headers() or []
            body["headers"] = {k: v.decode() for k, v in headers}
            body["size"] = len(message.value() or b"") + sum(len(k) + len(v) for k, v in headers)
            out.append(body)
        return out

    # --- sensors ------------------------------------------------------------------------
    def _context(self, cursor):
        return dg.build_sensor_context(
            instance=self.instance,
            cursor=cursor,
            definitions=self.defs,
            resources={"kafka": self.kafka, "cts_client": self.cts},
        )

    def tick(self):
        """One `cts_job_events` tick, applied like the daemon applies it."""
        from sensors.cts.job_events import cts_job_events

        with self._context(self.cursor) as context:
            result = cts_job_events(context)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        for request in result.run_requests or []:
            self._create_run(request)
        return result

    def replay_tick(self):
        """One `cts_dlq_replay` tick (its own cursor)."""
        from sensors.cts.dlq_replay import cts_dlq_replay

        with self._context(self.replay_cursor) as context:
            result = cts_dlq_replay(context)
        self.replay_cursor = result.cursor
        return result

    def failure_tick(self):
        """One `cts_import_failures` tick through Dagster's own ``evaluate_tick``; the
        cursor is stored only when the tick succeeds (as the daemon does)."""
        from sensors.cts.failures import cts_import_failures

        with self._context(self.failure_cursor) as context:
            data = cts_import_failures.evaluate_tick(context)
        self.failure_cursor = data.cursor
        return data

    def _create_run(self, request) -> None:
        existing = self.instance.get_runs(
            dg.RunsFilter(tags={"dagster/run_key": request.run_key, "dagster/sensor_name": SENSOR_NAME})
        )
        if existing:
            return
        job = self.defs.resolve_job_def(request.job_name)
        tags = {**request.tags, "dagster/run_key": request.run_key, "dagster/sensor_name": SENSOR_NAME}
        if request.partition_key is not None:  # else a range: its tags are in request.tags
            tags["dagster/partition"] = request.partition_key
        self.runs.append(self.instance.create_run_for_job(job, tags=tags, run_config=request.run_config))

    def jobs_of(self, request) -> list[str]:
        """The CTS jobs a run request (or run) covers: its partition, or its range."""
        partition = getattr(request, "partition_key", None) or request.tags.get("dagster/partition")
        if partition is not None:
            return [partition]
        [importer] = [i for i in registry.IMPORTERS.values() if i.job.name == request.job_name]
        keys = self.instance.get_dynamic_partitions(importer.partitions_name)
        start = keys.index(request.tags["dagster/asset_partition_range_start"])
        return keys[start : keys.index(request.tags["dagster/asset_partition_range_end"]) + 1]

    @staticmethod
    def event_of(request, job_id: str) -> dict:
        """The event a run (or run request) carries for ``job_id`` (its run config)."""
        [op] = request.run_config["ops"].values()
        return json.loads(op["config"]["events"][job_id])

    def requested_jobs(self) -> list[str]:
        """Every CTS job a run was created for, in order."""
        return [job for run in self.runs for job in self.jobs_of(run)]

    def execute(self, world, request, tags: dict | None = None, asset=None, **resources) -> dg.ExecuteInProcessResult:
        """Run a requested import for real (in process, the requested job, its partition or
        range and run config) on the harness instance, with ``world``'s services."""
        from platform_assets.cts.assets import IMPORT_ASSETS

        importer = checkm2.IMPORTER
        asset = asset or next(a for a in IMPORT_ASSETS if a.key == importer.asset_key)
        defs = dg.Definitions(assets=[asset], jobs=[importer.job], resources={**world.resources(), **resources})
        return defs.resolve_job_def(request.job_name).execute_in_process(
            partition_key=request.partition_key,
            tags={**request.tags, **(tags or {})},
            run_config=request.run_config,
            instance=self.instance,
            raise_on_error=False,
        )

    def run_keys(self) -> list[str]:
        return [run.tags["dagster/run_key"] for run in self.runs]
