"""Offset handling of `cts_job_events`: per-partition cursor, advanced only by a
successful tick, bounded ticks, and a broker that loses its topics between ticks."""

from __future__ import annotations

import json

import pytest

import sensors.cts.job_events as cts_job_events_module
from resources.cts.client import CtsUnavailable


def positions(cursor: str | None) -> dict[str, int]:
    if not cursor:
        return {}
    return {p: v["next"] for p, v in json.loads(cursor)["partitions"].items()}


def test_cursor_holds_per_partition_offsets(events):
    events.add_jobs("p0-a", "p0-b", "p2-a")
    events.produce(events.event("p0-a"), events.event("p0-b"), partition=0)
    events.produce(events.event("p2-a", "created"), events.event("p2-a"), partition=2)
    events.tick()

    assert positions(events.cursor) == {"0": 2, "2": 2}  # partition 1 is still empty
    events.produce(events.event("p0-a", "created"), partition=1)
    events.tick()
    assert positions(events.cursor) == {"0": 2, "1": 1, "2": 2}
    assert sorted(events.requested_jobs()) == ["p0-a", "p0-b", "p2-a"]


def test_ticks_are_bounded_and_resume_where_they_stopped(events, monkeypatch):
    monkeypatch.setattr(cts_job_events_module, "MAX_EVENTS_PER_TICK", 3)
    job_ids = [f"bounded-{i}" for i in range(8)]
    events.add_jobs(*job_ids)
    events.produce(*[events.event(j) for j in job_ids], partition=0)

    sizes = []
    for _ in range(4):
        before = positions(events.cursor).get("0", 0)
        events.tick()
        sizes.append(positions(events.cursor).get("0", 0) - before)
    assert sizes == [3, 3, 2, 0]
    assert events.requested_jobs() == job_ids


def test_a_failing_tick_does_not_move_the_cursor(events):
    events.add_jobs("stay-a", "stay-b")
    events.produce(events.event("stay-a"), partition=0)
    events.tick()
    cursor = events.cursor
    events.produce(events.event("stay-b"), partition=1)
    events.emulator.fail_next(1000)
    for _ in range(2):  # failing again and again: still no progress, nothing lost
        with pytest.raises(CtsUnavailable):
            events.tick()
        assert events.cursor == cursor
    events.emulator.clear_faults()
    events.tick()
    assert positions(events.cursor) == {"0": 1, "1": 1}
    assert events.requested_jobs() == ["stay-a", "stay-b"]


def test_redelivered_events_after_a_cursor_loss_create_no_duplicate_runs(events):
    events.add_jobs("again-a", "again-b")
    events.produce(events.event("again-a"), events.event("again-b"))
    events.tick()
    events.cursor = None  # e.g. an operator reset the sensor cursor
    result = events.tick()
    assert result.run_requests == []
    assert sorted(events.requested_jobs()) == ["again-a", "again-b"]  # once each, in any order


def test_broker_restart_between_ticks(events_own_broker):
    events = events_own_broker
    """Tansu keeps messages in memory: a restart loses topics and offsets. The sensor
    skips while the topic is missing, detects that its stored offsets are gone, restarts
    those partitions from the beginning and never crash-loops; replays are deduplicated."""
    events.add_jobs("before-1", "before-2", "after-1", "after-2")
    events.produce(events.event("before-1"), events.event("before-2"), partition=0)
    events.produce(events.event("before-1", "created"), partition=1)
    events.tick()
    cursor = events.cursor
    assert positions(cursor) == {"0": 2, "1": 1}

    events.broker.restart()
    result = events.tick()  # topic gone: a skip, not an error, cursor kept
    assert result.run_requests == [] and events.cursor == cursor

    events.create_topics()
    # fewer messages than before on partition 0, more on partition 1: both detected
    events.produce(events.event("after-1"), partition=0)
    events.produce(events.event("before-1"), events.event("after-2"), events.event("after-2", "created"), partition=1)
    events.tick()
    for _ in range(2):
        events.tick()
    assert positions(events.cursor) == {"0": 1, "1": 3}
    assert sorted(events.requested_jobs()) == ["after-1", "after-2", "before-1", "before-2"]


def test_a_hand_written_cursor_skips_what_it_says(events):
    """Operators may fast-forward (e.g. past an incident) by setting the cursor in the UI;
    a position without fingerprint is trusted as it is."""
    events.add_jobs("old-1", "old-2", "new-1")
    events.produce(events.event("old-1"), events.event("old-2"), events.event("new-1"), partition=0)
    events.cursor = json.dumps({"partitions": {"0": {"next": 2}}})
    events.tick()
    assert events.run_keys() == ["cts:new-1:new-1-complete"]
    assert positions(events.cursor) == {"0": 3}


# thread method: a poll blocked inside librdkafka never sees the signal method's alarm
@pytest.mark.timeout(30, method="thread")
def test_a_read_ends_at_the_partitions_ends_not_after_an_idle_wait(events):
    """A bounded read stops once every partition reported its end: with an idle timeout
    and a time budget of a minute it returns well within the test's 30 s (a read that
    only stopped after a quiet poll would sit out the minute), with every message of
    every partition, empty partitions included."""
    from resources.cts.kafka import TopicCursor

    events.produce(events.event("end-a"), events.event("end-b"), partition=0)
    events.produce(events.event("end-c"), partition=2)
    batch = events.kafka.read(
        events.kafka.jobs_topic, TopicCursor(), max_messages=10_000, max_seconds=60, idle_seconds=60
    )
    assert sorted(json.loads(m.value())["job_id"] for m in batch.messages) == ["end-a", "end-b", "end-c"]
    again = events.kafka.read(events.kafka.jobs_topic, batch.cursor, max_seconds=60, idle_seconds=60)
    assert again.messages == [] and again.cursor == batch.cursor


def test_refused_credentials_stop_the_tick_and_dead_letter_nothing(events):
    """A 401 concerns every job alike: the tick fails visibly with the cursor unchanged,
    nothing is dead-lettered, and the same events are handled once the token is right."""
    from resources.cts.client import CtsConfigError

    events.add_jobs("cred-a")
    events.produce(events.event("cred-a"), partition=0)
    token = events.cts.token
    events.configure_cts(token="not-the-token")
    with pytest.raises(CtsConfigError, match="HTTP 401"):
        events.tick()
    assert events.cursor is None and events.dead_letters() == []
    events.configure_cts(token=token)
    events.tick()
    assert events.requested_jobs() == ["cred-a"]
