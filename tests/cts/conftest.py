"""CTS test fixtures. The importer fixtures live in tests/cts/importer_world.py; the
event-sensor harness in tests/cts/events_harness.py (fixtures `events_instance`, `events`)."""

import uuid

import dagster as dg
import pytest

from tests.support.fixtures import *  # noqa: F403


@pytest.fixture
def events_instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def events(kafka_broker, cts_emulator, events_instance):  # noqa: F405
    """An EventsHarness (tests/cts/events_harness.py) on fresh topics (jobs: 3
    partitions, DLQ: 1), a real Tansu broker and the CTS emulator."""
    from platform_assets.cts.definitions import defs
    from resources.cts.client import CtsClient
    from resources.cts.kafka import KafkaResource
    from tests.cts.events_harness import EventsHarness

    suffix = uuid.uuid4().hex[:8]
    kafka = KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers,
                          jobs_topic=f"cts-jobs-{suffix}", dlq_topic=f"cts-jobs-dlq-{suffix}")
    cts = CtsClient(url=cts_emulator.url, token=cts_emulator.token, timeout_seconds=1.0,
                    max_attempts=4, backoff_base_seconds=0.05, backoff_max_seconds=0.2)
    harness = EventsHarness(events_instance, kafka, cts, cts_emulator, kafka_broker, defs)
    harness.create_topics()
    yield harness
    cts.close()
