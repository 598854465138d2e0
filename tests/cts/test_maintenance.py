"""Table maintenance (issue 14): compaction, retention-safe vacuum and checkpoints of the
CTS Delta tables, through the real `cts_table_maintenance` job, on tables on disk."""

from __future__ import annotations

import threading

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from platform_assets.cts.importers import checkm2
from platform_assets.cts.maintenance import cts_table_maintenance
from resources.cts.lake import DeltaLake

pytestmark = pytest.mark.slow  # many Delta commits and compactions: seconds per test

TABLE = checkm2.IMPORTER.table
KEYS = checkm2.IMPORTER.keys


def job_rows(job: str, n: int = 3) -> pa.Table:
    schema = checkm2.IMPORTER.schema
    columns: dict[str, list] = {name: [None] * n for name in schema.names}
    columns.update({"cts_job_id": [job] * n, "Name": [f"g{i}" for i in range(n)]})
    columns.update({"Completeness": [90.0] * n, "Contamination": [1.0] * n})
    return pa.table(columns, schema=schema)


def import_jobs(lake: DeltaLake, jobs: list[str]) -> None:
    for job in jobs:  # one commit per job: the worst case for file count and log length
        lake.merge(TABLE, job_rows(job), KEYS, target_filter={"cts_job_id": job}, delete_missing=True)


def run_maintenance(lake: DeltaLake, **config) -> dict:
    result = cts_table_maintenance.execute_in_process(
        resources={"lake": lake}, run_config={"ops": {"maintain_cts_tables": {"config": config}}}
    )
    [step] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    tables = step.step_output_data.metadata["tables"]
    assert isinstance(tables, dg.JsonMetadataValue) and isinstance(tables.data, dict)
    return tables.data[TABLE]


def rows(lake: DeltaLake) -> list[tuple]:
    table = lake.read(TABLE)
    return sorted(zip(table["cts_job_id"].to_pylist(), table["Name"].to_pylist(), strict=True))


def test_compaction_keeps_every_row_and_leaves_few_files(tmp_path):
    lake = DeltaLake(url=f"file://{tmp_path}/lake")
    import_jobs(lake, [f"job-{i:03d}" for i in range(40)])
    before = rows(lake)
    version = lake.version(TABLE)

    summary = run_maintenance(lake)
    assert summary["files_before"] >= 40 and summary["files_after"] == 1
    assert summary["files_vacuumed"] == 0  # the 7-day retention: nothing is old enough yet
    assert rows(lake) == before
    assert lake.version(TABLE) == version + 1  # one optimize commit
    assert DeltaTable(lake.table_uri(TABLE), version=version).to_pyarrow_table().num_rows == len(before)

    again = run_maintenance(lake)  # nothing to do: no new version
    assert again["files_compacted"] == 0 and lake.version(TABLE) == version + 1


def test_a_retention_below_the_tables_is_refused(tmp_path):
    """Vacuuming files that a reader of a recent version may still read is refused."""
    lake = DeltaLake(url=f"file://{tmp_path}/lake")
    import_jobs(lake, ["job-a", "job-b"])
    with pytest.raises(Exception, match="(?i)retention"):
        run_maintenance(lake, retention_hours=1)
    assert len(list((tmp_path / "lake" / "cts" / "checkm2").glob("*.parquet"))) >= 2  # nothing deleted


def test_vacuum_deletes_only_files_past_the_retention(tmp_path):
    """A table whose retention is 0 hours (set on the table): after compaction the small
    files are vacuumed, the current version stays readable and complete."""
    lake = DeltaLake(url=f"file://{tmp_path}/lake")
    DeltaTable.create(
        lake.table_uri(TABLE),
        schema=checkm2.IMPORTER.schema,
        configuration={"delta.deletedFileRetentionDuration": "interval 0 hours"},
    )
    import_jobs(lake, [f"job-{i}" for i in range(10)])
    before = rows(lake)
    first = run_maintenance(lake)  # compacts: the 10 small files leave the table...
    summary = run_maintenance(lake)  # ...and, past the retention, are deleted (by now)
    assert first["files_vacuumed"] + summary["files_vacuumed"] >= 10
    parquet = list((tmp_path / "lake" / "cts" / "checkm2").glob("*.parquet"))
    assert len(parquet) == summary["files_after"] == 1
    assert rows(lake) == before


def test_maintenance_concurrent_with_imports_loses_nothing(tmp_path):
    """Optimistic concurrency: compaction and MERGEs racing on one table; the losers of
    each commit race retry on the new snapshot; every imported row is there once."""
    lake = DeltaLake(url=f"file://{tmp_path}/lake")
    import_jobs(lake, [f"old-{i}" for i in range(20)])
    new_jobs = [f"new-{i}" for i in range(20)]
    errors: list[BaseException] = []

    def maintain() -> None:
        try:
            for _ in range(3):
                lake.maintain(TABLE)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    thread = threading.Thread(target=maintain)
    thread.start()
    import_jobs(lake, new_jobs)
    thread.join()
    assert errors == []
    expected = sorted((j, f"g{i}") for j in [*(f"old-{i}" for i in range(20)), *new_jobs] for i in range(3))
    assert rows(lake) == expected


def test_the_maintenance_is_scheduled():
    from sensors.cts.definitions import defs

    [schedule] = [s for s in defs.schedules if s.name == "cts_table_maintenance_hourly"]
    assert schedule.job_name == "cts_table_maintenance"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
