"""What the UI shows about a CTS table after an import run: three checks on the rows of the
run's jobs as they are in the Delta table after its commit, the table's column schema, and a
preview of a job's rows.

The checks read the table back (not the rows the run meant to write), so they catch what a
MERGE could get wrong: a job whose rows in the table differ in number from its report
(`rows_match_reports`), a merge-key column with nulls (`merge_keys_not_null`), a key present
twice (`one_row_per_key`). The merge keys include the job id, so checking the run's jobs is
checking every key the run could have touched. Skipped (unchanged) jobs of the run are
checked for null and repeated keys too; row counts are compared for the jobs the run imported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.cts.importers.base import JOB_ID_COLUMN, Importer
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    pa = lazy_import("pyarrow")
    pc = lazy_import("pyarrow.compute")

ROWS_MATCH_REPORTS = "rows_match_reports"
MERGE_KEYS_NOT_NULL = "merge_keys_not_null"
ONE_ROW_PER_KEY = "one_row_per_key"
PREVIEW_ROWS = 5
LISTED = 20  # jobs or keys named in a failing check's metadata


def check_specs(importer: Importer) -> list[dg.AssetCheckSpec]:
    key = importer.asset_key
    return [
        dg.AssetCheckSpec(
            ROWS_MATCH_REPORTS,
            asset=key,
            description="Each job of the run has as many rows in the table as its report.",
        ),
        dg.AssetCheckSpec(
            MERGE_KEYS_NOT_NULL, asset=key, description=f"No null in the merge keys {', '.join(importer.keys)}."
        ),
        dg.AssetCheckSpec(ONE_ROW_PER_KEY, asset=key, description="No merge key appears twice in the table."),
    ]


def column_schema(importer: Importer) -> dg.TableSchema:
    """The importer's declared table contract as Dagster's `dagster/column_schema`."""
    keys = set(importer.keys)
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=field.name,
                type=str(field.type),
                constraints=dg.TableColumnConstraints(nullable=field.nullable and field.name not in keys),
                description="merge key" if field.name in keys else None,
            )
            for field in importer.schema
        ]
    )


def rows_preview(rows: pa.Table, limit: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """The first rows of a job as a table in the materialization's metadata."""
    head = rows.slice(0, limit).to_pylist()
    columns = rows.column_names
    return dg.MetadataValue.table(
        records=[dg.TableRecord({c: _cell(row[c]) for c in columns}) for row in head],
        schema=dg.TableSchema(columns=[dg.TableColumn(name=c, type="string") for c in columns]),
    )


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _as_strings(table: pa.Table) -> pa.Table:
    """Delta may read strings as string_view, which grouping and comparison do not take."""
    return pa.table(
        {
            n: pc.cast(c, pa.string()) if pa.types.is_string_view(c.type) else c
            for n, c in zip(table.column_names, table.columns, strict=True)
        }
    )


def table_checks(
    lake: Any, importer: Importer, job_ids: Sequence[str], expected_rows: Mapping[str, int]
) -> list[dg.AssetCheckResult]:
    """The three checks over the rows of `job_ids` now in the importer's table;
    `expected_rows` holds each job's report row count (jobs without one are not counted)."""
    if lake.exists(importer.table):
        dataset = lake.table(importer.table).to_pyarrow_dataset()
        in_run = pc.field(JOB_ID_COLUMN).cast(pa.string()).isin(list(job_ids))
        rows = _as_strings(dataset.to_table(columns=list(importer.keys), filter=in_run))
    else:
        rows = pa.table({k: pa.array([], pa.string()) for k in importer.keys})
    per_job = {
        r[JOB_ID_COLUMN]: r["count_all"]
        for r in rows.group_by(JOB_ID_COLUMN).aggregate([([], "count_all")]).to_pylist()
    }
    mismatched = {
        j: {"report": n, "table": per_job.get(j, 0)} for j, n in sorted(expected_rows.items()) if per_job.get(j, 0) != n
    }
    nulls = {k: rows.column(k).null_count for k in importer.keys if rows.column(k).null_count}
    counts = rows.drop_null().group_by(list(importer.keys)).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts.column("count_all"), 1)).to_pylist()
    checked = {"jobs": len(job_ids), "rows": rows.num_rows}
    return [
        dg.AssetCheckResult(
            check_name=ROWS_MATCH_REPORTS,
            asset_key=importer.asset_key,
            passed=not mismatched,
            metadata={
                **checked,
                "jobs_compared": len(expected_rows),
                "mismatched": dg.MetadataValue.json(dict(list(mismatched.items())[:LISTED])),
            },
        ),
        dg.AssetCheckResult(
            check_name=MERGE_KEYS_NOT_NULL,
            asset_key=importer.asset_key,
            passed=not nulls,
            metadata={**checked, "null_keys": dg.MetadataValue.json(nulls)},
        ),
        dg.AssetCheckResult(
            check_name=ONE_ROW_PER_KEY,
            asset_key=importer.asset_key,
            passed=not repeated,
            metadata={**checked, "repeated_keys": len(repeated), "examples": dg.MetadataValue.json(repeated[:LISTED])},
        ),
    ]
