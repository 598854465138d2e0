"""What the UI shows of a CTS import: the three table checks (against a real Delta table,
including tables the import could not have written, so each check can fail), the column
schema and a preview of the rows."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
from deltalake import write_deltalake

from platform_assets.cts.assets import build_import_asset
from platform_assets.cts.importers import checkm2
from platform_assets.cts.table_checks import MERGE_KEYS_NOT_NULL, ONE_ROW_PER_KEY, ROWS_MATCH_REPORTS, table_checks
from tests.cts.importer_world import CHECKM2_IMAGE, checkm2_report, checkm2_row, run_materializations

IMPORTER = checkm2.IMPORTER
ASSET = build_import_asset(IMPORTER)


def by_name(results: list[dg.AssetCheckResult]) -> dict[str, dg.AssetCheckResult]:
    return {r.check_name: r for r in results if r.check_name is not None}


def test_an_import_run_passes_its_checks_and_shows_schema_and_rows(cts_world):
    report = [checkm2_row("genome_1", 99.5), checkm2_row("genome_2", 71.25)]
    job_id = cts_world.add_job(CHECKM2_IMAGE, {"quality_report.tsv": checkm2_report(report)})
    result = cts_world.materialize(ASSET, IMPORTER, job_id)

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {ROWS_MATCH_REPORTS, MERGE_KEYS_NOT_NULL, ONE_ROW_PER_KEY}
    assert all(e.passed for e in evaluations.values())
    assert evaluations[ROWS_MATCH_REPORTS].metadata["rows"].value == 2
    [materialization] = run_materializations(cts_world.instance, result.run_id)
    schema = materialization.metadata["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == IMPORTER.schema.names
    assert materialization.metadata["dagster/row_count"].value == 2
    preview = materialization.metadata["preview"].value
    assert sorted(r.data["Name"] for r in preview.records) == ["genome_1", "genome_2"]


def write_rows(world, rows: list[dict]) -> None:
    table = pa.Table.from_pylist(rows, schema=pa.schema([("cts_job_id", pa.string()), ("Name", pa.string())]))
    write_deltalake(
        world.lake.table_uri(IMPORTER.table), table, mode="append", storage_options=world.lake.storage_options()
    )


def test_each_check_fails_on_the_table_defect_it_names(cts_world):
    write_rows(
        cts_world,
        [
            {"cts_job_id": "job-a", "Name": "g1"},
            {"cts_job_id": "job-a", "Name": "g1"},  # the same key twice
            {"cts_job_id": "job-a", "Name": None},  # a null merge key
            {"cts_job_id": "job-b", "Name": "g1"},  # another job: not the run's
        ],
    )
    results = by_name(table_checks(cts_world.lake, IMPORTER, ["job-a"], {"job-a": 2}))
    assert not results[ROWS_MATCH_REPORTS].passed
    assert results[ROWS_MATCH_REPORTS].metadata["mismatched"].value == {"job-a": {"report": 2, "table": 3}}
    assert not results[MERGE_KEYS_NOT_NULL].passed
    assert results[MERGE_KEYS_NOT_NULL].metadata["null_keys"].value == {"Name": 1}
    assert not results[ONE_ROW_PER_KEY].passed
    assert results[ONE_ROW_PER_KEY].metadata["examples"].value == [
        {"cts_job_id": "job-a", "Name": "g1", "count_all": 2}
    ]

    clean = by_name(table_checks(cts_world.lake, IMPORTER, ["job-b"], {"job-b": 1}))
    assert all(r.passed for r in clean.values()), "job-b's rows are clean: the run's jobs only are checked"


def test_a_job_missing_from_the_table_fails_the_row_count(cts_world):
    results = by_name(table_checks(cts_world.lake, IMPORTER, ["job-x"], {"job-x": 3}))
    assert not results[ROWS_MATCH_REPORTS].passed
    assert results[ROWS_MATCH_REPORTS].metadata["mismatched"].value == {"job-x": {"report": 3, "table": 0}}
    assert results[MERGE_KEYS_NOT_NULL].passed and results[ONE_ROW_PER_KEY].passed
