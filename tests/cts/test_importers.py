"""CheckM2 imports end to end through `dg.materialize`: CTS emulator over HTTP, outputs
in an object store (local disk or moto S3), Delta tables on disk or S3."""

from __future__ import annotations

import dataclasses

import dagster as dg
import pyarrow as pa
import pytest

from platform_assets.cts.assets import build_import_asset
from platform_assets.cts.importers import checkm2
from platform_assets.cts.importers.registry import importer_for_image, importer_for_job
from platform_assets.cts.job_meta import META_COMPLETE, META_START
from platform_assets.provenance import FORCE_TAG
from tests.cts.importer_world import CHECKM2_IMAGE, checkm2_report, checkm2_row, run_materializations

IMPORTER = checkm2.IMPORTER
ASSET = build_import_asset(IMPORTER)


def materialization_count(world, job_id: str) -> int:
    return len(
        world.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=IMPORTER.asset_key, asset_partitions=[job_id]), limit=100
        ).records
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    [failure] = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    assert error is not None
    return error.message


def table_rows(world) -> dict[tuple, dict]:
    table = world.lake.read(IMPORTER.table).to_pylist()
    return {(r["cts_job_id"], r["Name"]): r for r in table}


def test_registry_routes_by_image_name_only():
    assert CHECKM2_IMAGE == "ghcr.io/kbasetest/cdm_checkm2"  # the CTS contract
    assert importer_for_image(CHECKM2_IMAGE) is IMPORTER
    assert importer_for_image(CHECKM2_IMAGE + ":1.1.0") is IMPORTER
    assert importer_for_image(CHECKM2_IMAGE + "@sha256:" + "b" * 64) is IMPORTER
    assert importer_for_image("ghcr.io/kbasetest/cdm_unknown") is None
    assert importer_for_image("platform_assets.cts.importers.checkm2") is None
    assert importer_for_job({"image": {"name": CHECKM2_IMAGE}}) is IMPORTER
    assert IMPORTER.asset_key == dg.AssetKey(["cts", "checkm2"])
    assert IMPORTER.partitions_def.name == "cts_checkm2_jobs"
    assert IMPORTER.job.name == "cts_import_checkm2" and IMPORTER.table == "cts/checkm2"


def test_checkm2_import_on_local_disk(cts_world):
    report = [checkm2_row("genome_1", 99.5), checkm2_row("genome_2", 71.25, Additional_Notes="NA")]
    job_id = cts_world.add_job(
        CHECKM2_IMAGE, {"quality_report.tsv": checkm2_report(report), "protein_files/genome_1.faa": b">p\nMK\n"}
    )
    result = cts_world.materialize(ASSET, IMPORTER, job_id)

    [materialization] = run_materializations(cts_world.instance, result.run_id)
    metadata = materialization.metadata
    assert metadata["rows"].value == 2 and metadata["batch_rows_inserted"].value == 2
    assert list(metadata["verified_files"].value) == [f"cts-data/out/{job_id}/quality_report.tsv"]
    rows = table_rows(cts_world)
    assert rows[(job_id, "genome_1")]["Completeness"] == 99.5
    assert rows[(job_id, "genome_2")]["Completeness"] == 71.25
    assert rows[(job_id, "genome_2")]["Additional_Notes"] is None
    assert rows[(job_id, "genome_1")]["Genome_Size"] == 4_600_000
    assert cts_world.lake.read(IMPORTER.table).schema.field("Contig_N50").type == pa.int64()
    meta = cts_world.emulator.meta(job_id)
    assert set(meta) == {META_START, META_COMPLETE}


def test_checkm2_import_with_outputs_and_lake_on_s3(s3_cts_world):
    world = s3_cts_world
    job_id = world.add_job(
        CHECKM2_IMAGE, {"quality_report.tsv": checkm2_report([checkm2_row("g1"), checkm2_row("g2"), checkm2_row("g3")])}
    )
    world.materialize(ASSET, IMPORTER, job_id)
    assert sorted(n for _, n in table_rows(world)) == ["g1", "g2", "g3"]
    assert world.lake.table_uri(IMPORTER.table).startswith("s3://")


def test_replay_skips_and_a_forced_replay_writes_no_table_version(cts_world):
    job_id = cts_world.add_job(
        CHECKM2_IMAGE, {"quality_report.tsv": checkm2_report([checkm2_row("g1"), checkm2_row("g2")])}
    )
    cts_world.materialize(ASSET, IMPORTER, job_id)
    version = cts_world.lake.version(IMPORTER.table)

    cts_world.materialize(ASSET, IMPORTER, job_id)  # same event delivered again
    assert materialization_count(cts_world, job_id) == 1  # skipped: nothing changed

    cts_world.instance.add_dynamic_partitions(IMPORTER.partitions_def.name, [job_id])
    forced = dg.materialize(
        [ASSET],
        partition_key=job_id,
        instance=cts_world.instance,
        resources=cts_world.resources(),
        tags={FORCE_TAG: "true"},
    )
    [materialization] = run_materializations(cts_world.instance, forced.run_id)
    metadata = materialization.metadata
    assert metadata["new_table_version"].value is False
    assert metadata["batch_rows_inserted"].value == 0 and metadata["batch_rows_updated"].value == 0
    assert cts_world.lake.version(IMPORTER.table) == version
    assert len(table_rows(cts_world)) == 2


def test_checksum_mismatch_fails_naming_the_file_and_imports_nothing(cts_world):
    job_id = cts_world.add_job(
        CHECKM2_IMAGE, {"quality_report.tsv": checkm2_report([checkm2_row("g1")])}, corrupt={"quality_report.tsv"}
    )
    result = cts_world.materialize(ASSET, IMPORTER, job_id, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "ChecksumMismatch" in message and f"{job_id}/quality_report.tsv" in message
    assert cts_world.lake.version(IMPORTER.table) is None
    assert META_COMPLETE not in cts_world.emulator.meta(job_id)
    # permanent error: no retries
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]


def test_uncastable_value_fails_naming_file_line_and_column(cts_world):
    report = [checkm2_row("g1"), checkm2_row("g2"), checkm2_row("g3", Contig_N50="12k")]
    job_id = cts_world.add_job(CHECKM2_IMAGE, {"quality_report.tsv": checkm2_report(report)})
    result = cts_world.materialize(ASSET, IMPORTER, job_id, raise_on_error=False)
    message = failure_message(result)
    assert f"{job_id}/quality_report.tsv: line 4, column 'Contig_N50'" in message
    assert "cannot cast '12k' to int64" in message
    assert cts_world.lake.version(IMPORTER.table) is None  # nothing half-written


def test_missing_value_in_required_column_is_an_error_not_a_null(cts_world):
    job_id = cts_world.add_job(
        CHECKM2_IMAGE, {"quality_report.tsv": checkm2_report([checkm2_row("g1", completeness="")])}
    )
    message = failure_message(cts_world.materialize(ASSET, IMPORTER, job_id, raise_on_error=False))
    assert "line 2, column 'Completeness': missing value" in message


def test_job_without_report_fails_clearly(cts_world):
    job_id = cts_world.add_job(CHECKM2_IMAGE, {"checkm2.log": b"finished\n"})
    message = failure_message(cts_world.materialize(ASSET, IMPORTER, job_id, raise_on_error=False))
    assert "no output file matching ['quality_report.tsv']" in message
    assert f"cts-data/out/{job_id}/checkm2.log" in message


def test_unknown_job_fails_without_retries(cts_world):
    result = cts_world.materialize(ASSET, IMPORTER, "no-such-job", raise_on_error=False)
    assert "CtsJobNotFound" in failure_message(result)
    assert cts_world.emulator.requests == [("GET", "/admin/jobs/no-such-job")]


def test_declared_digest_variant_accepts_reports_without_contig_stats(cts_world):
    legacy = next(iter(checkm2.DIGEST_HANDLING))
    header_cut = checkm2_report([checkm2_row("g1")]).decode().splitlines()
    cut = [line.split("\t") for line in header_cut]
    drop = [cut[0].index("Total_Contigs"), cut[0].index("Max_Contig_Length")]
    report = "\n".join("\t".join(v for i, v in enumerate(r) if i not in drop) for r in cut)
    files = {"quality_report.tsv": report.encode()}

    old_job = cts_world.add_job(CHECKM2_IMAGE, files, digest=legacy)
    cts_world.materialize(ASSET, IMPORTER, old_job)
    assert table_rows(cts_world)[(old_job, "g1")]["Total_Contigs"] is None

    new_job = cts_world.add_job(CHECKM2_IMAGE, files)  # current image: columns required
    message = failure_message(cts_world.materialize(ASSET, IMPORTER, new_job, raise_on_error=False))
    assert "missing column(s) ['Total_Contigs', 'Max_Contig_Length']" in message


def test_transient_cts_failure_is_retried_by_the_client(cts_world):
    job_id = cts_world.add_job(CHECKM2_IMAGE, {"quality_report.tsv": checkm2_report([checkm2_row("g1")])})
    cts_world.emulator.fail_next(2)
    cts_world.materialize(ASSET, IMPORTER, job_id)
    assert (job_id, "g1") in table_rows(cts_world)


def fixed_parse(ctx):
    """A "fixed" CheckM2 importer: Completeness is reported as a fraction."""
    table = checkm2.parse_checkm2(ctx)
    index = table.schema.get_field_index("Completeness")
    fractions = pa.array([v / 100 for v in table["Completeness"].to_pylist()], pa.float64())
    return table.set_column(index, table.schema.field(index), fractions)


def test_fixing_an_importer_makes_partitions_stale_and_one_backfill_reimports(cts_world):
    jobs = [
        cts_world.add_job(CHECKM2_IMAGE, {"quality_report.tsv": checkm2_report([checkm2_row(f"g{i}", 50.0)])})
        for i in range(2)
    ]
    for job_id in jobs:
        cts_world.materialize(ASSET, IMPORTER, job_id)

    assert build_import_asset(IMPORTER).code_versions_by_key == ASSET.code_versions_by_key
    fixed = dataclasses.replace(IMPORTER, parse=fixed_parse)
    fixed_asset = build_import_asset(fixed)
    assert fixed_asset.code_versions_by_key != ASSET.code_versions_by_key
    declared = dataclasses.replace(IMPORTER, digest_handling={"sha256:" + "c" * 64: "x"})
    assert build_import_asset(declared).code_versions_by_key != ASSET.code_versions_by_key

    # one action: materialize every partition (a backfill); only stale ones compute
    job_def = dg.Definitions(
        assets=[fixed_asset], jobs=[IMPORTER.job], resources=cts_world.resources()
    ).resolve_job_def(IMPORTER.job.name)
    for job_id in jobs:
        assert job_def.execute_in_process(partition_key=job_id, instance=cts_world.instance).success
    assert all(table_rows(cts_world)[(j, "g0" if j == jobs[0] else "g1")]["Completeness"] == 0.5 for j in jobs)
    for job_id in jobs:
        job_def.execute_in_process(partition_key=job_id, instance=cts_world.instance)
        assert materialization_count(cts_world, job_id) == 2  # now current: skipped


def test_cts_outage_longer_than_client_retries_is_retried_by_the_retry_policy(cts_world):
    job_id = cts_world.add_job(CHECKM2_IMAGE, {"quality_report.tsv": checkm2_report([checkm2_row("g1")])})
    cts_world.emulator.fail_next(4)  # exactly the client's 4 attempts of the first step try
    result = cts_world.materialize(ASSET, IMPORTER, job_id)
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 1
    assert (job_id, "g1") in table_rows(cts_world)


@pytest.mark.parametrize("case", ["not_utf8", "bad_output_path"])
def test_permanent_input_errors_fail_without_retries(cts_world, case):
    """Bad input that retrying cannot fix fails at once, naming the problem."""
    if case == "not_utf8":
        report = checkm2_report([checkm2_row("g1")]).replace(b"g1", b"g\xff1")
        job_id = cts_world.add_job(CHECKM2_IMAGE, {"quality_report.tsv": report})
        expected = "ReportFormatError"
    else:
        job_id = f"job-{case.replace('_', '-')}"
        cts_world.emulator.add_job(
            job_id=job_id,
            image_name=CHECKM2_IMAGE,
            outputs=[{"file": "s3://x/quality_report.tsv", "crc64nvme": "AAAAAAAAAAA="}],
        )
        expected = "InvalidOutputPath"
    result = cts_world.materialize(ASSET, IMPORTER, job_id, raise_on_error=False)
    assert not result.success
    assert expected in failure_message(result)
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert cts_world.lake.version(IMPORTER.table) is None


def test_import_jobs_do_not_run_retry_step_failures():
    """Permanent failures must not be re-run as whole runs in production either."""
    tags = IMPORTER.job.tags
    assert tags["dagster/retry_on_asset_or_op_failure"] == "false"
    assert tags["platform/importer"] == IMPORTER.name


def test_a_forced_reimport_replaces_the_jobs_rows_exactly(cts_world):
    """Issue 12, row 5: the report of a job lost a row (re-run upstream); a forced
    re-import leaves exactly the new rows of that job, other jobs untouched, in one
    commit, and a replay of the unchanged job writes no version."""
    report = {"quality_report.tsv": checkm2_report([checkm2_row("g1"), checkm2_row("g2"), checkm2_row("g3")])}
    job_id = cts_world.add_job(CHECKM2_IMAGE, report)
    other = cts_world.add_job(CHECKM2_IMAGE, report)
    cts_world.materialize(ASSET, IMPORTER, job_id)
    cts_world.materialize(ASSET, IMPORTER, other)
    version = cts_world.lake.version(IMPORTER.table)

    shorter = {"quality_report.tsv": checkm2_report([checkm2_row("g1", 11.0), checkm2_row("g3")])}
    cts_world.add_job(CHECKM2_IMAGE, shorter, job_id=job_id)

    def forced():
        return dg.materialize(
            [ASSET],
            partition_key=job_id,
            instance=cts_world.instance,
            resources=cts_world.resources(),
            tags={FORCE_TAG: "true"},
        )

    first = forced()
    [materialization] = run_materializations(cts_world.instance, first.run_id)
    metadata = materialization.metadata
    assert metadata["batch_rows_deleted"].value == 1 and metadata["batch_rows_updated"].value == 1
    assert cts_world.lake.version(IMPORTER.table) == version + 1
    rows = table_rows(cts_world)
    assert sorted(n for j, n in rows if j == job_id) == ["g1", "g3"]
    assert rows[(job_id, "g1")]["Completeness"] == 11.0
    assert sorted(n for j, n in rows if j == other) == ["g1", "g2", "g3"]

    second = forced()
    [materialization] = run_materializations(cts_world.instance, second.run_id)
    again = materialization.metadata
    assert again["new_table_version"].value is False and again["batch_rows_deleted"].value == 0
    assert cts_world.lake.version(IMPORTER.table) == version + 1
