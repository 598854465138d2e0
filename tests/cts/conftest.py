"""CTS test fixtures: `cts_world`/`s3_cts_world` (importers, see tests/cts/importer_world.py)
and `events` (the event-sensor harness, see tests/cts/events_harness.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from localdev.cts_emulator import CtsEmulator
from resources.cts.lake import DeltaLake
from resources.cts.outputs import CtsObjectStore
from tests.cts.importer_world import CtsWorld


@pytest.fixture
def events_instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def postgres_events_instance(postgres_url):
    """A Dagster instance whose storage is PostgreSQL (what production uses)."""
    with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": postgres_url}}}) as instance:
        yield instance


@pytest.fixture(params=["sqlite", "postgres"])
def events_on_each_storage(request, kafka_broker, cts_emulator):
    """`events` on a SQLite-backed and on a PostgreSQL-backed instance: NUL and lone
    surrogates fail differently in each."""
    instance = request.getfixturevalue("events_instance" if request.param == "sqlite" else "postgres_events_instance")
    yield from _events_harness(kafka_broker, cts_emulator, instance)


@pytest.fixture
def events(kafka_broker, cts_emulator, events_instance):
    """An EventsHarness (tests/cts/events_harness.py) on fresh topics (jobs: 3
    partitions, DLQ: 1) of the session's Tansu broker, and the CTS emulator."""
    yield from _events_harness(kafka_broker, cts_emulator, events_instance)


@pytest.fixture
def events_own_broker(fresh_kafka_broker, cts_emulator, events_instance):
    """`events` on a broker of the test's own (for tests that restart it)."""
    yield from _events_harness(fresh_kafka_broker, cts_emulator, events_instance)


def _events_harness(kafka_broker, cts_emulator, events_instance):
    from platform_assets.cts.definitions import defs
    from resources.cts.client import CtsClient
    from resources.cts.kafka import KafkaResource
    from tests.cts.events_harness import EventsHarness

    suffix = uuid.uuid4().hex[:8]
    kafka = KafkaResource(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        jobs_topic=f"cts-jobs-{suffix}",
        dlq_topic=f"cts-jobs-dlq-{suffix}",
    )
    cts = CtsClient(
        url=cts_emulator.url,
        token=cts_emulator.token,
        timeout_seconds=1.0,
        max_attempts=4,
        backoff_base_seconds=0.05,
        backoff_max_seconds=0.2,
    )
    harness = EventsHarness(events_instance, kafka, cts, cts_emulator, kafka_broker, defs)
    harness.create_topics()
    yield harness
    cts.close()


@pytest.fixture
def cts_world(tmp_path: Path, cts_emulator: CtsEmulator) -> Iterator[CtsWorld]:
    """CTS outputs on local disk (the stand-in for S3) and a lake on local disk."""
    world = CtsWorld(
        emulator=cts_emulator,
        store=CtsObjectStore(url=f"file://{tmp_path}/s3"),
        lake=DeltaLake(url=f"file://{tmp_path}/lake"),
    )
    yield world
    world.instance.dispose()


@pytest.fixture
def s3_cts_world(s3_env, cts_emulator: CtsEmulator) -> Iterator[CtsWorld]:
    """CTS outputs in a moto S3 bucket and the lake in another bucket on the same server."""
    outputs_bucket = s3_env.create_bucket()
    lake_bucket = s3_env.create_bucket()
    world = CtsWorld(
        emulator=cts_emulator,
        store=CtsObjectStore(url="s3://", aws_endpoint_url=s3_env.endpoint_url),
        lake=DeltaLake(url=f"s3://{lake_bucket}/lake", aws_endpoint_url=s3_env.endpoint_url),
        bucket=outputs_bucket,
    )
    yield world
    world.instance.dispose()
