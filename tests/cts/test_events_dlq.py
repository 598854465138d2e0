"""Failed imports -> DLQ (`cts_import_failures`) and DLQ replay (`cts_dlq_replay`).

End to end with real parts: an event on the Tansu broker, the `cts_job_events` tick, the
real CheckM2 import run (outputs on disk, Delta lake, CTS emulator) on a real instance,
then the run-failure sensor evaluated on that run, then the replay."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from platform_assets.cts import job_meta
from platform_assets.cts.importers import checkm2
from resources.cts.client import CtsClient, CtsUnavailable
from resources.cts.kafka import KafkaPublishError, KafkaResource
from sensors.cts.dlq_replay import MAX_REPLAYS
from tests.cts.importer_world import CHECKM2_IMAGE, checkm2_report, checkm2_row

REPORT = "quality_report.tsv"


def execute(events, world, request, tags: dict | None = None, **resources) -> dg.ExecuteInProcessResult:
    return events.execute(world, request, tags, **resources)


def evaluate_failure_sensor(events, result: dg.ExecuteInProcessResult | None = None):
    """One tick of the failure sensor (its own cursor, through ``evaluate_tick``)."""
    return events.failure_tick()


def test_corrupted_output_is_dead_lettered_with_trace_and_replay_reimports(events, cts_world):
    rows = [checkm2_row("bin.1"), checkm2_row("bin.2")]
    job_id = cts_world.add_job(CHECKM2_IMAGE, {REPORT: checkm2_report(rows)}, corrupt={REPORT})
    event = events.event(job_id)
    events.produce(event)
    [request] = events.tick().run_requests

    result = execute(events, cts_world, request)
    assert not result.success
    evaluate_failure_sensor(events, result)

    [letter] = events.dead_letters()
    assert {k: letter[k] for k in event} == event  # the original event, unchanged
    assert "ChecksumMismatch" in letter["error_dlq"] and REPORT in letter["error_dlq"]
    assert "Traceback" in letter["error_dlq_trace"] or "File " in letter["error_dlq_trace"]
    assert "ChecksumMismatch" in letter["error_dlq_trace"]
    meta = events.emulator.meta(job_id)
    assert job_meta.META_ERROR in meta
    assert job_meta.META_COMPLETE not in meta

    # the output is fixed upstream; the operator turns the replay on
    cts_world.add_job(CHECKM2_IMAGE, {REPORT: checkm2_report(rows)}, job_id=job_id)
    events.replay_tick()
    [replayed] = events.tick().run_requests
    assert replayed.run_key != request.run_key and replayed.partition_key == job_id
    assert "error_dlq" not in events.event_of(replayed, job_id)
    assert execute(events, cts_world, replayed).success
    assert job_meta.META_COMPLETE in events.emulator.meta(job_id)
    assert cts_world.lake.read("cts/checkm2").num_rows == 2

    events.replay_tick()  # each dead letter is replayed once
    assert events.tick().run_requests == []


def test_failures_that_dagster_will_retry_are_not_dead_lettered(events, cts_world):
    with dg.instance_for_test(overrides={"run_retries": {"enabled": True, "max_retries": 2}}) as instance:
        events.instance = instance
        job_id = cts_world.add_job(CHECKM2_IMAGE, {REPORT: checkm2_report([checkm2_row("b")])}, corrupt={REPORT})
        events.produce(events.event(job_id))
        [request] = events.tick().run_requests

        # import jobs do not run-retry step failures (a permanent error stays one); a
        # run-level failure would be retried: simulate one by allowing it for this run
        retried = execute(events, cts_world, request, tags={"dagster/retry_on_asset_or_op_failure": "true"})
        assert instance.get_run_by_id(retried.run_id).tags.get("dagster/will_retry") == "true"
        evaluate_failure_sensor(events, retried)
        assert events.dead_letters() == []
        assert job_meta.META_ERROR not in events.emulator.meta(job_id)

        final = execute(
            events,
            cts_world,
            request,  # the last attempt: no retry follows
            tags={"dagster/max_retries": "0"},
        )
        assert instance.get_run_by_id(final.run_id).tags.get("dagster/will_retry") == "false"
        evaluate_failure_sensor(events, final)
        assert [letter["job_id"] for letter in events.dead_letters()] == [job_id]
        assert job_meta.META_ERROR in events.emulator.meta(job_id)


def test_replay_reprocesses_dead_letters_once_and_skips_unreplayable(events):
    events.produce(events.event("late-job"), b"junk")
    events.tick()
    assert len(events.dead_letters()) == 2  # "No such job" + malformed

    events.add_jobs("late-job")  # the job exists now
    result = events.replay_tick()
    assert "replayed 1 of 2" in result.skip_reason.skip_message
    [request] = events.tick().run_requests
    assert request.partition_key == "late-job" and ":replay:" in request.run_key
    replayed = events.event_of(request, "late-job")
    assert replayed["dlq_replays"] == 1 and "error_dlq" not in replayed

    assert "replayed 0 of 0" in events.replay_tick().skip_reason.skip_message  # cursor moved on
    assert events.tick().run_requests == []


def test_a_dead_letter_larger_than_any_event_is_replayed_without_its_error_fields(events):
    """A dead letter carries up to 2,000 characters of error and 6,000 of trace: more than
    an event may weigh (8 KB). Those fields go before the event is checked, so the letter
    of a job that exists now is replayed and imported."""
    from platform_assets.cts.events import ERROR_CHARS, TRACE_CHARS, dead_letter

    letter = dead_letter(
        events.event("big-letter"),
        "é" * ERROR_CHARS,
        "Traceback: " + "x" * TRACE_CHARS,
        max_bytes=events.kafka.message_limit(events.kafka.dlq_topic),
    )
    assert len(letter.value) > 8 * 1024  # larger than any event
    events.kafka.publish(events.kafka.dlq_topic, [letter])
    events.add_jobs("big-letter")
    assert "replayed 1 of 1" in events.replay_tick().skip_reason.skip_message
    [request] = events.tick().run_requests
    replayed = events.event_of(request, "big-letter")
    assert replayed["dlq_replays"] == 1 and "error_dlq" not in replayed and "error_dlq_trace" not in replayed


def test_a_topics_limit_is_asked_of_the_broker_once_for_all_ticks(events, monkeypatch):
    """Each tick gets new resources; the DLQ topic's limit is still described once (a
    describe per tick would open an admin client every 5 s, idle ticks included)."""
    from confluent_kafka.admin import AdminClient

    describes = []
    describe = AdminClient.describe_configs
    monkeypatch.setattr(
        AdminClient, "describe_configs", lambda self, *a, **kw: describes.append(a) or describe(self, *a, **kw)
    )
    first_tick, second_tick = (KafkaResource(**events.kafka.model_dump()) for _ in range(2))
    limit = first_tick.message_limit(events.kafka.dlq_topic)
    assert second_tick.message_limit(events.kafka.dlq_topic) == limit
    assert len(describes) == 1


def test_replay_of_a_permanently_failing_event_is_bounded(events):
    events.produce(events.event("never-exists"))
    events.tick()
    for _ in range(MAX_REPLAYS + 2):
        events.replay_tick()
        events.tick()

    letters = [d for d in events.dead_letters() if d.get("job_id") == "never-exists"]
    assert len(letters) == 1 + MAX_REPLAYS
    assert [d.get("dlq_replays", 0) for d in letters] == list(range(MAX_REPLAYS + 1))
    assert all(d["error_dlq"] == "No such job" for d in letters)
    assert events.runs == []


def _failed_import(events, cts_world, **resources):
    job_id = cts_world.add_job(CHECKM2_IMAGE, {REPORT: checkm2_report([checkm2_row("b")])}, corrupt={REPORT})
    events.produce(events.event(job_id))
    [request] = events.tick().run_requests
    assert not execute(events, cts_world, request, **resources).success
    return job_id


def test_failure_while_kafka_is_down_is_dead_lettered_on_the_next_tick(events, cts_world):
    """Dagster's run-failure sensors advance their cursor even when they raise; this one
    keeps its own and moves it only once the dead letter is acknowledged."""
    from localdev.broker import free_port

    job_id = _failed_import(events, cts_world)
    good_kafka = events.kafka
    events.kafka = KafkaResource(
        bootstrap_servers=f"127.0.0.1:{free_port()}",
        jobs_topic=good_kafka.jobs_topic,
        dlq_topic=good_kafka.dlq_topic,
        flush_timeout_seconds=2.0,
    )
    with pytest.raises(Exception) as raised:
        evaluate_failure_sensor(events)
    assert "KafkaPublishError" in repr(raised.value) or isinstance(raised.value.__cause__, KafkaPublishError)
    assert events.failure_cursor is None  # not advanced
    events.kafka = good_kafka
    assert events.dead_letters() == []

    evaluate_failure_sensor(events)
    [letter] = events.dead_letters()
    assert letter["job_id"] == job_id and "ChecksumMismatch" in letter["error_dlq"]
    assert job_meta.META_ERROR in events.emulator.meta(job_id)
    cursor = events.failure_cursor
    assert json.loads(cursor)["after_storage_id"] > 0
    evaluate_failure_sensor(events)  # handled: never dead-lettered twice
    assert len(events.dead_letters()) == 1 and events.failure_cursor == cursor


def test_cts_down_fails_the_failure_tick_and_the_next_tick_handles_it(events, cts_world):
    job_id = _failed_import(events, cts_world)
    events.emulator.fail_next(1000)
    with pytest.raises(CtsUnavailable):
        evaluate_failure_sensor(events)
    assert events.failure_cursor is None and events.dead_letters() == []
    events.emulator.clear_faults()
    evaluate_failure_sensor(events)
    assert [letter["job_id"] for letter in events.dead_letters()] == [job_id]


def test_the_admin_token_never_reaches_the_dead_letter(events, cts_world):
    secret = "very-secret-admin-token"
    bad_client = CtsClient(url=cts_world.emulator.url, token=f"{secret}\nX-Injected: 1")
    _failed_import(events, cts_world, cts_client=bad_client)
    evaluate_failure_sensor(events)
    [message] = events.read_all(events.kafka.dlq_topic)
    payload = message.value() + b"".join(v for _, v in message.headers() or [])
    assert b"CtsConfigError" in payload and b"CTS_ADMIN_TOKEN" in payload
    assert secret.encode() not in payload


@pytest.mark.parametrize("case", ["4000-outputs-listed", "megabyte-value-quoted"])
def test_a_huge_error_text_is_dead_lettered_clipped_once_within_the_broker_limit(events, cts_world, case):
    """Row 2 of issue 12: the error of a failed import can be huge (a `NoReportFiles`
    listing thousands of outputs, a cast error quoting a 1.2 MB value). It used to be
    copied four times into the dead letter (body, trace, two headers), the broker refused
    it and no later failure was ever dead-lettered. Now error and trace are clipped to a
    few KB, saying so, the trace is carried once, and the tick goes on."""
    if case == "4000-outputs-listed":
        job_id = "many-outputs"
        folder = f"{cts_world.bucket}/out/{job_id}"
        outputs = [
            {"file": f"{folder}/bins/bin_{i:05d}_" + "x" * 60 + ".faa", "crc64nvme": "AA=="} for i in range(4000)
        ]
        cts_world.emulator.add_job(job_id=job_id, image_name=CHECKM2_IMAGE, outputs=outputs, output_dir=folder)
        expected = "NoReportFiles"
    else:
        report = checkm2_report([checkm2_row("g1", Contig_N50="1.5" + "x" * 1_200_000)])
        job_id = cts_world.add_job(CHECKM2_IMAGE, {REPORT: report})
        expected = "StrictCastError"
    later = _failed_import(events, cts_world)  # a second failure behind the huge one
    event = events.event(job_id)
    events.produce(event)
    [request] = events.tick().run_requests
    assert not execute(events, cts_world, request).success

    evaluate_failure_sensor(events)  # must not raise
    letters = {letter["job_id"]: letter for letter in events.dead_letters()}
    assert set(letters) == {job_id, later}  # the one behind it is dead-lettered too
    letter = letters[job_id]
    assert {k: letter[k] for k in event} == event
    assert letter["size"] < events.kafka.message_limit(events.kafka.dlq_topic)
    assert expected in letter["error_dlq"] and "characters cut" in letter["error_dlq"]
    assert len(letter["error_dlq"]) <= 2_000 and len(letter["error_dlq_trace"]) <= 6_000
    assert "error_dlq_trace" not in letter["headers"]  # the trace once, in the body
    assert letter["headers"]["error_dlq"] == letter["error_dlq"]


def test_a_run_whose_event_is_not_json_is_dead_lettered_as_it_is(events, cts_world):
    """A run someone launched by hand with a broken event in its run config cannot stop
    the failure sensor: the event is forwarded as it is, with the error."""
    job_id = cts_world.add_job(CHECKM2_IMAGE, {REPORT: checkm2_report([checkm2_row("b")])}, corrupt={REPORT})
    events.instance.add_dynamic_partitions(checkm2.IMPORTER.partitions_name, [job_id])
    request = dg.RunRequest(
        job_name=checkm2.IMPORTER.job.name,
        partition_key=job_id,
        run_config={"ops": {checkm2.IMPORTER.op_name: {"config": {"events": {job_id: "{not json"}}}}},
    )
    assert not execute(events, cts_world, request).success
    later = _failed_import(events, cts_world)
    evaluate_failure_sensor(events)
    letters = events.dead_letters()
    assert [letter.get("raw") for letter in letters if "raw" in letter] == [b"{not json"]
    assert [letter["job_id"] for letter in letters if "raw" not in letter] == [later]
    [raw] = [letter for letter in letters if "raw" in letter]
    assert "ChecksumMismatch" in raw["headers"]["error_dlq"] and raw["headers"]["error_dlq_trace"]
