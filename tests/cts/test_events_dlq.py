"""Failed imports -> DLQ (`cts_import_failures`) and DLQ replay (`cts_dlq_replay`).

End to end with real parts: an event on the Tansu broker, the `cts_job_events` tick, the
real CheckM2 import run (outputs on disk, Delta lake, CTS emulator) on a real instance,
then the run-failure sensor evaluated on that run, then the replay."""

from __future__ import annotations

import json

import dagster as dg

from platform_assets.cts import registry
from platform_assets.cts.assets import IMPORT_ASSETS
from sensors.cts_dlq import MAX_REPLAYS, cts_import_failures
from tests.cts.importer_world import CHECKM2_IMAGE, checkm2_report, checkm2_row, cts_world  # noqa: F401

REPORT = "quality_report.tsv"


def checkm2_asset() -> dg.AssetsDefinition:
    key = registry.importer_for_image(CHECKM2_IMAGE).asset_key
    return next(a for a in IMPORT_ASSETS if a.key == key)


def execute(events, world, request) -> dg.ExecuteInProcessResult:
    """Run a requested import for real (in process) on the harness instance."""
    return dg.materialize([checkm2_asset()], partition_key=request.partition_key,
                          tags=request.tags, instance=events.instance,
                          resources=world.resources(), raise_on_error=False)


def evaluate_failure_sensor(events, result: dg.ExecuteInProcessResult) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name="cts_import_failures",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=events.instance,
        dagster_run=events.instance.get_run_by_id(result.run_id),
        resources={"kafka": events.kafka, "cts_client": events.cts},
    ).for_run_failure()
    with context:  # the CTS client resource is a context manager
        cts_import_failures(context)


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
    assert f"{registry.META_PREFIX}_error" in meta
    assert f"{registry.META_PREFIX}_complete" not in meta

    # the output is fixed upstream; the operator turns the replay on
    cts_world.add_job(CHECKM2_IMAGE, {REPORT: checkm2_report(rows)}, job_id=job_id)
    events.replay_tick()
    [replayed] = events.tick().run_requests
    assert replayed.run_key != request.run_key and replayed.partition_key == job_id
    assert "error_dlq" not in json.loads(replayed.tags["cts/event"])
    assert execute(events, cts_world, replayed).success
    assert f"{registry.META_PREFIX}_complete" in events.emulator.meta(job_id)
    assert cts_world.lake.read("cts/checkm2").num_rows == 2

    events.replay_tick()  # each dead letter is replayed once
    assert events.tick().run_requests == []


def test_failures_that_dagster_will_retry_are_not_dead_lettered(events, cts_world):
    with dg.instance_for_test(overrides={"run_retries": {"enabled": True,
                                                         "max_retries": 2}}) as instance:
        events.instance = instance
        job_id = cts_world.add_job(CHECKM2_IMAGE, {REPORT: checkm2_report([checkm2_row("b")])},
                                   corrupt={REPORT})
        events.produce(events.event(job_id))
        [request] = events.tick().run_requests

        retried = execute(events, cts_world, request)
        assert instance.get_run_by_id(retried.run_id).tags.get("dagster/will_retry") == "true"
        evaluate_failure_sensor(events, retried)
        assert events.dead_letters() == []
        assert f"{registry.META_PREFIX}_error" not in events.emulator.meta(job_id)

        final = dg.materialize(  # the last attempt: no retry follows
            [checkm2_asset()], partition_key=job_id,
            tags={**request.tags, "dagster/max_retries": "0"}, instance=instance,
            resources=cts_world.resources(), raise_on_error=False)
        assert instance.get_run_by_id(final.run_id).tags.get("dagster/will_retry") == "false"
        evaluate_failure_sensor(events, final)
        assert [letter["job_id"] for letter in events.dead_letters()] == [job_id]
        assert f"{registry.META_PREFIX}_error" in events.emulator.meta(job_id)


def test_replay_reprocesses_dead_letters_once_and_skips_unreplayable(events):
    events.produce(events.event("late-job"), b"junk")
    events.tick()
    assert len(events.dead_letters()) == 2  # "No such job" + malformed

    events.add_jobs("late-job")  # the job exists now
    result = events.replay_tick()
    assert "replayed 1 of 2" in result.skip_reason.skip_message
    [request] = events.tick().run_requests
    assert request.partition_key == "late-job" and ":replay:" in request.run_key
    replayed = json.loads(request.tags["cts/event"])
    assert replayed["dlq_replays"] == 1 and "error_dlq" not in replayed

    assert "replayed 0 of 0" in events.replay_tick().skip_reason.skip_message  # cursor moved on
    assert events.tick().run_requests == []


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
