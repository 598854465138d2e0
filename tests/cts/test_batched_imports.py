"""Many jobs per run (issue 14): each job still its own partition with its own provenance,
success or failure and dead letter; the run's MERGEs in one commit; re-imports batched.

Real parts: Tansu broker, CTS emulator over HTTP, outputs on disk, Delta lake, the real
import job executed in process on the harness instance, the real failure sensor.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import dagster as dg
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from platform_assets.cts import assets as assets_module
from platform_assets.cts.assets import build_import_asset
from platform_assets.cts.importers import checkm2
from platform_assets.cts.importers.base import MAX_JOBS_PER_RUN
from platform_assets.cts.job_meta import META_COMPLETE, META_ERROR
from platform_assets.provenance import FORCE_TAG
from tests.cts.fuzzing import fuzz
from tests.cts.importer_world import CHECKM2_IMAGE, checkm2_report, checkm2_row, run_materializations

pytestmark = pytest.mark.slow  # import runs and sensor ticks on real instances

IMPORTER = checkm2.IMPORTER
REPORT = "quality_report.tsv"


def statuses(instance, job_ids):
    return {
        job: (status.value if status else None)
        for job, status in instance.get_status_by_partition(
            IMPORTER.asset_key, job_ids, IMPORTER.partitions_def
        ).items()
    }


def materializations(instance, job_id: str) -> int:
    return len(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=IMPORTER.asset_key, asset_partitions=[job_id]), limit=100
        ).records
    )


def report(*names: str) -> dict[str, bytes]:
    return {REPORT: checkm2_report([checkm2_row(n) for n in names])}


def test_one_bad_job_neither_fails_nor_dead_letters_the_others(events, cts_world):
    good = [cts_world.add_job(CHECKM2_IMAGE, report(f"g{i}", f"h{i}")) for i in range(3)]
    bad = cts_world.add_job(CHECKM2_IMAGE, report("x"), corrupt={REPORT})
    jobs = [good[0], bad, good[1], good[2]]
    events.produce(*[events.event(j) for j in jobs], partition=0)
    [request] = events.tick().run_requests
    assert events.jobs_of(request) == jobs  # one run for the tick

    result = events.execute(cts_world, request)
    assert not result.success  # the run reports the failed job...
    assert statuses(events.instance, jobs) == {**dict.fromkeys(good, "MATERIALIZED"), bad: "FAILED"}
    rows = cts_world.lake.read(IMPORTER.table).to_pylist()
    assert sorted(r["cts_job_id"] for r in rows) == sorted(good * 2)  # ...the others are imported
    assert cts_world.lake.version(IMPORTER.table) == 1  # created, then one MERGE commit for all
    for job in good:
        assert META_COMPLETE in events.emulator.meta(job) and META_ERROR not in events.emulator.meta(job)

    events.failure_tick()
    [letter] = events.dead_letters()  # exactly the bad job, with its own error and event
    assert letter["job_id"] == bad and letter["state"] == "complete"
    assert "ChecksumMismatch" in letter["error_dlq"] and bad in letter["error_dlq"]
    assert "ChecksumMismatch" in letter["error_dlq_trace"]
    assert META_ERROR in events.emulator.meta(bad) and META_COMPLETE not in events.emulator.meta(bad)

    events.produce(events.event(bad), events.event(good[0]))  # late duplicates
    assert events.tick().run_requests == []  # a failed or imported job is not requested again
    events.failure_tick()
    assert len(events.dead_letters()) == 1


def test_a_transient_failure_retries_only_the_jobs_not_imported(events, cts_world, monkeypatch):
    """A job the CTS cannot serve right now fails the step *retryably* after the others
    are committed and recorded; the retry skips those (provenance) and imports the rest."""
    monkeypatch.setattr(assets_module, "IMPORT_RETRY_POLICY", dg.RetryPolicy(max_retries=1))
    asset = build_import_asset(IMPORTER)
    jobs = [cts_world.add_job(CHECKM2_IMAGE, report(f"g{i}")) for i in range(3)]
    events.produce(*[events.event(j) for j in jobs], partition=0)
    [request] = events.tick().run_requests
    events.emulator.fail_job_next(jobs[1], 4)  # all 4 attempts of the client, first step try only

    result = events.execute(cts_world, request, asset=asset)
    assert result.success
    assert len([e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]) == 1
    assert [materializations(events.instance, j) for j in jobs] == [1, 1, 1]  # each job once
    assert sorted(r["cts_job_id"] for r in cts_world.lake.read(IMPORTER.table).to_pylist()) == sorted(jobs)


def test_a_fixed_importer_reimports_every_stale_job_in_one_run_and_one_commit(cts_world):
    """The data-migration case: every partition stale after an importer fix. A backfill
    runs them ``MAX_JOBS_PER_RUN`` at a time (the asset's backfill policy); one run over
    a range recomputes each stale partition, skips current ones, and writes one commit."""
    jobs = [cts_world.add_job(CHECKM2_IMAGE, report(f"g{i}")) for i in range(6)]
    cts_world.instance.add_dynamic_partitions(IMPORTER.partitions_name, jobs)
    asset = build_import_asset(IMPORTER)
    assert asset.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_JOBS_PER_RUN)

    def run_range(asset_def, first: str, last: str) -> dg.ExecuteInProcessResult:
        job = dg.Definitions(assets=[asset_def], jobs=[IMPORTER.job], resources=cts_world.resources())
        return job.resolve_job_def(IMPORTER.job.name).execute_in_process(
            instance=cts_world.instance,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )

    instance = cts_world.instance
    run_range(asset, jobs[0], jobs[3])  # 4 imported
    version = cts_world.lake.version(IMPORTER.table)

    def fixed_parse(ctx):
        table = checkm2.parse_checkm2(ctx)
        index = table.schema.get_field_index("Completeness")
        fractions = pa.array([v / 100 for v in table["Completeness"].to_pylist()], pa.float64())
        return table.set_column(index, table.schema.field(index), fractions)

    fixed = build_import_asset(dataclasses.replace(IMPORTER, parse=fixed_parse))
    result = run_range(fixed, jobs[0], jobs[5])  # 4 stale + 2 never imported, one run
    reasons = {  # "code version changed: <old> -> <new>"
        m.partition: m.metadata["platform/reason"].value.split(":")[0]
        for m in run_materializations(instance, result.run_id)
    }
    assert reasons == {**{j: "code version changed" for j in jobs[:4]}, **{j: "never materialized" for j in jobs[4:]}}
    assert cts_world.lake.version(IMPORTER.table) == version + 1  # one commit for the six
    assert {r["Completeness"] for r in cts_world.lake.read(IMPORTER.table).to_pylist()} == {0.985}

    again = run_range(fixed, jobs[0], jobs[5])
    assert run_materializations(instance, again.run_id) == []  # all current: skipped
    assert cts_world.lake.version(IMPORTER.table) == version + 1


def test_a_forced_run_recomputes_every_job_of_its_range(cts_world):
    jobs = [cts_world.add_job(CHECKM2_IMAGE, report(f"g{i}")) for i in range(3)]
    cts_world.instance.add_dynamic_partitions(IMPORTER.partitions_name, jobs)
    job = dg.Definitions(
        assets=[build_import_asset(IMPORTER)], jobs=[IMPORTER.job], resources=cts_world.resources()
    ).resolve_job_def(IMPORTER.job.name)
    tags = {"dagster/asset_partition_range_start": jobs[0], "dagster/asset_partition_range_end": jobs[-1]}
    job.execute_in_process(instance=cts_world.instance, tags=tags)
    forced = job.execute_in_process(instance=cts_world.instance, tags={**tags, FORCE_TAG: "true"})
    assert len(run_materializations(cts_world.instance, forced.run_id)) == 3
    assert [materializations(cts_world.instance, j) for j in jobs] == [2, 2, 2]


@pytest.mark.parametrize("env", ["local", "k8s"])
def test_import_steps_run_in_the_run_worker_except_spark_on_k8s(monkeypatch, env):
    """A run pays one process start: the import step runs in-process in the run worker;
    on Kubernetes that worker's pod runs the importer's image with its resources. A Spark
    importer on Kubernetes keeps its own step pod (the JVM image)."""
    from platform_assets.cts.importers import gtdbtk

    monkeypatch.setenv("PLATFORM_ENV", env)
    light = dataclasses.replace(checkm2.IMPORTER)
    spark = dataclasses.replace(gtdbtk.IMPORTER)
    assert light.job.executor_def is dg.in_process_executor
    config = light.job.tags.get("dagster-k8s/config")
    config = json.loads(config) if isinstance(config, str) else config
    if env == "k8s":
        assert config["container_config"]["image"].split("@")[0].endswith("/cts")
        assert config["container_config"]["resources"]["requests"]["memory"] == "1Gi"
        assert spark.job.executor_def is None  # the code location's k8s_job_executor
    else:
        assert config is None
        assert spark.job.executor_def is dg.in_process_executor


@fuzz(300)
@given(
    existing=st.lists(st.from_regex(r"j[0-9]{1,3}", fullmatch=True), unique=True, max_size=30),
    requested=st.lists(st.from_regex(r"j[0-9]{1,3}", fullmatch=True), min_size=1, max_size=40),
    replayed=st.sets(st.integers(0, 39)),
    limit=st.integers(1, 8),
)
def test_run_requests_cover_each_requested_job_once_in_contiguous_ranges(existing, requested, replayed, limit):
    """Invariant (run planning): every requested job is covered by exactly one run; a
    range run covers only requested jobs, contiguous in the partition order the tick
    leaves (existing partitions, then the new ones in read order), at most the limit, the
    runs of one block of consecutive jobs even in size; a DLQ replay gets a run of its own;
    new partitions are exactly the jobs not yet there."""
    import sensors.cts.import_requests as module
    from platform_assets.cts.events import JobEvent

    events = [
        JobEvent(job, "complete", {"job_id": job}, trans_id=f"t-{job}", replay=f"0:{i}" if i in replayed else None)
        for i, job in enumerate(requested)
    ]
    plan = module.ImportPlan()
    original = module.MAX_JOBS_PER_RUN
    module.MAX_JOBS_PER_RUN = limit
    try:
        module.plan_imports(IMPORTER, events, existing, plan)
    finally:
        module.MAX_JOBS_PER_RUN = original
    new = plan.new_partitions.get(IMPORTER.partitions_name, [])
    assert new == [j for j in dict.fromkeys(requested) if j not in existing]
    order = [*existing, *new]
    covered = []
    replayed_jobs = {e.job_id for e in events if e.replay}
    spans = []  # (first, last) position of each run that is not a replay
    for request in plan.run_requests:
        if request.partition_key is not None:
            covered.append(request.partition_key)
            if request.partition_key not in replayed_jobs:
                spans.append((order.index(request.partition_key),) * 2)
            continue
        start = order.index(request.tags["dagster/asset_partition_range_start"])
        end = order.index(request.tags["dagster/asset_partition_range_end"])
        spans.append((start, end))
        assert 1 < end - start + 1 <= limit
        covered += order[start : end + 1]
        config_jobs = set(request.run_config["ops"][IMPORTER.op_name]["config"]["events"])
        assert config_jobs == set(order[start : end + 1])
    # the runs of one block of consecutive jobs are even: sizes differ by at most one
    spans.sort()
    for (a, b), (c, d) in zip(spans, spans[1:], strict=False):
        if b + 1 == c:
            assert abs((b - a) - (d - c)) <= 1, spans
    replays = Counter(e.job_id for e in events if e.replay)
    expected = Counter({job: replays.get(job, 1) for job in requested})  # a replay is its own run
    assert Counter(covered) == expected


def test_a_reimport_is_one_asset_backfill_of_every_job():
    """`python -m platform_assets.cts.reimport` submits one asset backfill (run by the
    daemon in chunks of the asset's backfill policy), not a run per job."""
    from platform_assets.cts.reimport import request_reimport
    from platform_assets.definitions import defs

    with dg.instance_for_test() as instance:
        jobs = [f"job-{i}" for i in range(7)]
        instance.add_dynamic_partitions(IMPORTER.partitions_name, jobs)
        request_reimport(instance, defs, "checkm2", force=True)
        [backfill] = instance.get_backfills()
        assert backfill.is_asset_backfill and backfill.tags == {FORCE_TAG: "true"}
        target = backfill.asset_backfill_data.target_subset
        assert sorted(target.get_partitions_subset(IMPORTER.asset_key).get_partition_keys()) == jobs
        assert instance.get_runs() == []  # the daemon creates the runs
