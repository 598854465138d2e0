"""Fault suite of the `cts_job_events` sensor: real Tansu broker, real CTS emulator over
HTTP, sensor ticks on a real Dagster instance (see `EventsHarness` in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from platform_assets.cts import job_meta
from platform_assets.cts.importers import registry
from platform_assets.cts.importers.base import IMPORTER_TAG
from resources.cts.client import CtsUnavailable
from resources.cts.kafka import KafkaPublishError, KafkaResource


def test_each_event_delivered_three_times_imports_each_job_once(events):
    events.add_jobs("job-a", "job-b")
    a, b = events.event("job-a"), events.event("job-b")
    events.produce(a, a, events.event("job-a", "created"), a, b, partition=0)
    first = events.tick()
    [request] = first.run_requests  # the jobs of a tick share one run
    assert events.jobs_of(request) == ["job-a", "job-b"]
    events.produce(b, b)  # the remaining duplicates arrive in a later tick
    events.tick()
    events.tick()

    assert events.requested_jobs() == ["job-a", "job-b"]
    importer = registry.importer_for_image(events.CHECKM2_IMAGE)
    assert events.instance.get_dynamic_partitions(importer.partitions_def.name) == ["job-a", "job-b"]
    [run] = events.runs
    assert run.job_name == importer.job.name and run.tags["platform/importer"] == importer.name
    assert run.tags["dagster/asset_partition_range_start"] == "job-a"
    assert run.tags["dagster/asset_partition_range_end"] == "job-b"
    stored = events.instance.get_run_by_id(run.run_id).run_config["ops"][importer.op_name]["config"]["events"]
    assert {job: json.loads(event) for job, event in stored.items()} == {"job-a": a, "job-b": b}
    assert events.dead_letters() == []


def test_out_of_order_states_request_the_import_once(events):
    events.add_jobs("job-c")
    states = ["complete", "created", "job_submitted", "complete", "download_submitted", "upload_submitted"]
    events.produce(*[events.event("job-c", s) for s in states], partition=1)
    result = events.tick()

    assert [r.run_key for r in result.run_requests] == ["cts:job-c:job-c-complete"]
    assert events.run_keys() == ["cts:job-c:job-c-complete"]


def test_non_complete_states_are_skipped(events):
    events.add_jobs("job-d")
    events.produce(*[events.event("job-d", s) for s in ["created", "job_submitted", "error", "canceled"]])
    result = events.tick()

    assert result.run_requests == [] and events.runs == []
    assert events.dead_letters() == []
    assert events.emulator.requests == []  # no CTS call for a skipped state


def test_malformed_messages_go_to_the_dlq_with_error_dlq(events):
    bad = [b"not json {", b"[1, 2]", {"state": "complete"}, {"job_id": "x"}, {"job_id": "", "state": "complete"}]
    bad_ids = ["../admin", "job id", "j" * 51, "job/1", "ジョブ"]  # not the CTS id pattern
    events.add_jobs("j" * 50)
    events.produce(*bad, *[events.event(j) for j in bad_ids])
    result = events.tick()
    assert result.run_requests == []
    assert events.emulator.requests == []  # an invalid id never reaches the CTS

    letters = events.dead_letters()
    assert len(letters) == len(bad) + len(bad_ids)
    for letter in letters:  # the contract: both fields on every dead letter, the trace once
        assert letter["headers"]["error_dlq"]
        if "raw" in letter:  # cannot carry fields: both in the headers
            assert letter["headers"]["error_dlq_trace"]
        else:
            assert letter["error_dlq"] == letter["headers"]["error_dlq"]
            assert "BadEvent" in letter["error_dlq_trace"]
            assert "error_dlq_trace" not in letter["headers"]
    invalid = [letter for letter in letters if letter.get("job_id") in bad_ids]
    assert sorted(letter["job_id"] for letter in invalid) == sorted(bad_ids)
    assert all("is not a CTS job id" in letter["error_dlq"] for letter in invalid)
    letters = [letter for letter in letters if letter not in invalid]
    raw = {letter["raw"]: letter for letter in letters if "raw" in letter}
    assert set(raw) == {b"not json {", b"[1, 2]"}  # forwarded byte for byte
    assert "not valid JSON" in raw[b"not json {"]["headers"]["error_dlq"]
    assert "not a JSON object" in raw[b"[1, 2]"]["headers"]["error_dlq"]
    objects = [letter for letter in letters if "raw" not in letter]
    assert {
        tuple(sorted(k for k in o if k not in ("error_dlq", "error_dlq_trace", "headers", "size"))) for o in objects
    } == {
        ("state",),
        ("job_id",),
        ("job_id", "state"),
    }
    assert all("missing required keys" in o["error_dlq"] or "non-empty" in o["error_dlq"] for o in objects)
    assert all(o["headers"]["error_dlq"] == o["error_dlq"] for o in objects)

    events.tick()  # the cursor moved past them: not dead-lettered twice
    assert len(events.dead_letters()) == len(bad) + len(bad_ids)


def test_unknown_job_goes_to_the_dlq_as_no_such_job(events):
    events.add_jobs("job-known")
    events.produce(events.event("job-unknown"), events.event("job-known"))
    events.tick()

    assert events.run_keys() == ["cts:job-known:job-known-complete"]
    [letter] = events.dead_letters()
    assert letter["job_id"] == "job-unknown" and letter["error_dlq"] == "No such job"
    assert "CtsJobNotFound" in letter["error_dlq_trace"]
    assert letter["state"] == "complete" and letter["trans_id"] == "job-unknown-complete"


def test_image_without_importer_is_marked_no_operation(events):
    events.add_jobs("job-other", image="ghcr.io/someone/not_imported")
    events.produce(events.event("job-other"))
    result = events.tick()

    assert result.run_requests == [] and events.runs == []
    assert events.dead_letters() == []
    meta = events.emulator.meta("job-other")
    assert list(meta) == [job_meta.META_NO_OPERATION]


def test_cts_500s_are_retried_within_the_tick(events):
    events.add_jobs("job-e")
    events.produce(events.event("job-e"))
    events.emulator.fail_next(2)
    events.tick()

    assert events.run_keys() == ["cts:job-e:job-e-complete"]
    gets = [path for method, path in events.emulator.requests if method == "GET"]
    assert gets == ["/admin/jobs/job-e"] * 3  # two 500s, then the job


def test_cts_timeouts_are_retried_within_the_tick(events):
    events.add_jobs("job-f")
    events.produce(events.event("job-f"))
    events.emulator.hang_next(1, seconds=events.cts.timeout_seconds + 1)
    events.tick()

    assert events.run_keys() == ["cts:job-f:job-f-complete"]
    assert len(events.emulator.requests) == 2


def test_cts_down_fails_the_tick_and_the_next_tick_replays(events):
    events.add_jobs("job-g", "job-h")
    events.produce(events.event("job-g"), b"garbage", events.event("job-h"), partition=0)
    events.emulator.fail_next(1000)
    with pytest.raises(CtsUnavailable):
        events.tick()
    assert events.cursor is None and events.runs == []
    assert events.dead_letters() == []  # transient errors are never dead-lettered

    events.emulator.clear_faults()
    events.tick()
    assert events.requested_jobs() == ["job-g", "job-h"]
    assert [letter.get("raw") for letter in events.dead_letters()] == [b"garbage"]


def test_an_outage_after_progress_ends_the_tick_early_and_keeps_the_progress(events):
    """Messages before the first one the CTS could not serve are done (a bad one is
    dead-lettered once); the cursor stops right there and a later tick goes on."""
    events.add_jobs("after-outage")
    [_, (_, stuck)] = events.produce(b"garbage first", events.event("after-outage"), partition=0)
    events.emulator.fail_next(1000)
    events.tick()  # progress was made: no exception
    assert json.loads(events.cursor)["partitions"]["0"]["next"] == stuck
    assert [letter.get("raw") for letter in events.dead_letters()] == [b"garbage first"]
    events.emulator.clear_faults()
    events.tick()
    assert events.run_keys() == ["cts:after-outage:after-outage-complete"]
    assert len(events.dead_letters()) == 1


def test_tick_failing_after_partial_processing_replays_without_duplicates(events):
    """The tick fetches jobs, records no_operation, then cannot make its dead letters
    durable: it fails, the cursor stays, and the replay produces each effect once."""
    events.add_jobs("job-i", "job-j")
    events.add_jobs("job-noop", image="ghcr.io/someone/not_imported")
    first = [events.event("job-i"), b"{broken"]
    events.produce(*first)
    events.tick()  # a healthy tick first: job-i imported, one dead letter
    events.produce(events.event("job-j"), events.event("job-noop"), b"{broken again", events.event("job-i"))
    good_kafka = events.kafka
    events.kafka = KafkaResource(
        bootstrap_servers=good_kafka.bootstrap_servers,
        jobs_topic=good_kafka.jobs_topic,
        dlq_topic="bad topic name!",
        flush_timeout_seconds=2.0,
    )
    cursor_before = events.cursor
    with pytest.raises(KafkaPublishError):
        events.tick()
    assert events.cursor == cursor_before
    assert events.emulator.meta("job-noop")  # partially processed: this effect happened
    assert events.run_keys() == ["cts:job-i:job-i-complete"]

    events.kafka = good_kafka
    events.tick()
    events.tick()
    assert sorted(events.run_keys()) == ["cts:job-i:job-i-complete", "cts:job-j:job-j-complete"]
    assert sorted(letter["raw"] for letter in events.dead_letters()) == [b"{broken", b"{broken again"]
    noop_puts = [j for j, _ in events.emulator.meta_puts if j == "job-noop"]
    assert len(noop_puts) == 2  # recorded again on replay: idempotent, same fields


def test_runs_never_wait_for_runs_and_carry_the_importer_concurrency_tag(events):
    """No head-of-line blocking: the sensor requests later imports while an earlier run
    has not finished (it never waits for runs); every run is tagged for the
    per-importer tag concurrency limit and carries the events of its jobs."""
    events.add_jobs("job-slow", "job-k", "job-l")
    events.produce(events.event("job-slow"))
    events.tick()
    [slow] = events.runs
    events.produce(events.event("job-k"), events.event("job-l"))  # read order across partitions: any
    result = events.tick()

    assert not events.instance.get_run_by_id(slow.run_id).is_finished
    [request] = result.run_requests
    assert sorted(events.jobs_of(request)) == ["job-k", "job-l"]
    assert sorted(events.requested_jobs()) == ["job-k", "job-l", "job-slow"]
    assert {run.tags[IMPORTER_TAG] for run in events.runs} == {"checkm2"}
    for run in events.runs:
        config = events.instance.get_run_by_id(run.run_id).run_config
        assert set(config["ops"]["cts__checkm2"]["config"]["events"]) == set(events.jobs_of(run))


def test_the_instance_limits_concurrency_per_importer_tag():
    """Every import run (sensor request or backfill of the job) carries the importer's
    tag, and the run queue limits that tag per unique value, i.e. per importer."""
    config = yaml.safe_load((Path(__file__).parents[2] / "dagster.yaml").read_text())
    limits = config["run_coordinator"]["config"]["tag_concurrency_limits"]
    [limit] = [limit for limit in limits if limit["key"] == IMPORTER_TAG]
    assert (limit.get("value") or {}).get("applyLimitPerUniqueValue") is True
    assert isinstance(limit["limit"], int) and limit["limit"] >= 1
    for importer in registry.IMPORTERS.values():
        assert importer.job.tags[IMPORTER_TAG] == importer.name


def test_evaluate_tick_moves_the_cursor_only_through_its_result_and_dedupes(events):
    """Through Dagster's own `evaluate_tick` (not the harness): the cursor is what the
    result says, a failed evaluation yields none, and re-reading the same events after
    their runs exist requests nothing again."""
    import dagster as dg

    from sensors.cts.job_events import cts_job_events

    def evaluate(cursor):
        # as in the daemon, the context has an instance ref: run requests are validated
        # against the dynamic partitions plus those the same result adds
        with dg.build_sensor_context(
            instance=events.instance,
            instance_ref=events.instance.get_ref(),
            cursor=cursor,
            definitions=events.defs,
            resources={"kafka": events.kafka, "cts_client": events.cts},
        ) as context:
            return cts_job_events.evaluate_tick(context)

    events.add_jobs("ev-a", "ev-b")
    events.produce(events.event("ev-a"), events.event("ev-b"), events.event("ev-a"))
    first = evaluate(None)
    [request] = first.run_requests
    assert sorted(events.jobs_of(request)) == ["ev-a", "ev-b"]
    assert first.cursor and first.cursor != "null"
    for request in first.run_requests:  # what the daemon does with the result
        events._create_run(request)

    events.produce(events.event("ev-c"))  # a job the CTS cannot serve right now
    events.add_jobs("ev-c")
    events.emulator.fail_next(1000)
    with pytest.raises(CtsUnavailable):
        evaluate(first.cursor)
    events.emulator.clear_faults()

    replay = evaluate(None)  # e.g. the cursor was reset: everything is read again
    assert [r.run_key for r in replay.run_requests] == ["cts:ev-c:ev-c-complete"]
    again = evaluate(first.cursor)
    assert [r.run_key for r in again.run_requests] == ["cts:ev-c:ev-c-complete"]
    assert again.cursor == replay.cursor


def test_a_slow_cts_ends_the_tick_at_its_deadline_and_loses_nothing(events, monkeypatch):
    """The tick stops near its deadline; each partition's cursor stops after its last
    fully handled message, and later ticks finish the rest without duplicates."""
    import resources.cts.client as client
    import sensors.cts.job_events as module

    # Generous margins: reading Kafka counts against the deadline too, and on a loaded
    # 2-core machine it can take seconds. 10 sequential fetches x 0.6 s cannot fit in a
    # 5 s tick.
    monkeypatch.setattr(module, "TICK_DEADLINE_SECONDS", 5.0)
    monkeypatch.setattr(client, "MAX_IN_FLIGHT", 1)
    job_ids = [f"slow-{i}" for i in range(10)]
    events.add_jobs(*job_ids)
    for i, job_id in enumerate(job_ids):
        events.produce(events.event(job_id), partition=i % 2)
    events.emulator.latency_seconds = 0.6  # below the client's 1 s request timeout

    events.tick()
    assert len(events.requested_jobs()) < len(job_ids)
    progress = [len(events.requested_jobs())]
    for _ in range(40):  # bounded
        if len(events.requested_jobs()) == len(job_ids):
            break
        events.tick()
        progress.append(len(events.requested_jobs()))
    assert sorted(events.requested_jobs()) == sorted(job_ids)  # each once
    positions = {p: v["next"] for p, v in json.loads(events.cursor)["partitions"].items()}
    assert positions == {"0": 5, "1": 5}
    assert progress == sorted(progress)  # never went back


def test_a_trickling_cts_answer_cannot_hold_a_tick_past_its_deadline(events, monkeypatch):
    """Issue 12, row 4, at the tick: the job document trickles in over a minute; the tick
    ends at its deadline (plus the idle read), the event is neither imported nor
    dead-lettered (a slow CTS is not the event's fault) and is handled by a later tick."""
    import time

    import sensors.cts.job_events as module
    from localdev.cts_emulator import job_document

    monkeypatch.setattr(module, "TICK_DEADLINE_SECONDS", 4.0)
    events.configure_cts(timeout_seconds=30.0)
    document = json.dumps(job_document("trickle", image_name=events.CHECKM2_IMAGE)).encode()
    events.emulator.serve_raw("trickle", document, trickle_seconds=60)
    events.produce(events.event("trickle"), partition=0)
    start = time.monotonic()
    result = events.tick()
    assert time.monotonic() - start < 30  # the trickle alone would take 60 s
    assert result.run_requests == [] and events.dead_letters() == []
    assert events.cursor is None or json.loads(events.cursor)["partitions"].get("0", {}).get("next", 0) == 0

    events.add_jobs("trickle")  # the CTS recovers
    events.tick()
    assert events.run_keys() == ["cts:trickle:trickle-complete"]
