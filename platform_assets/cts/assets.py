"""One Delta-table import asset per CTS importer, partitioned by CTS job id.

A partition is one CTS job: the Kafka sensor adds the job id as a dynamic partition and
requests it. The asset fetches the job, checks every output file it reads against the
job's crc64nvme, lets the importer parse rows with strict typing, and MERGEs them into
``$PLATFORM_LAKE_URL/cts/<importer>``. Re-running a partition is free (skip when the
code version is unchanged; otherwise the MERGE writes no new version for equal rows).

The importer's ``parse`` (with the project code it calls), its table contract and its
declared digest handling are part of the asset's code version: fixing an importer marks
every imported partition stale, and one backfill of the importer job re-imports exactly
those (unchanged partitions skip).

Failures: transient ones (CTS/S3 unavailable, commit conflicts) are retried by the
RetryPolicy (exponential backoff + jitter); permanent ones (checksum mismatch, uncastable
value, missing report, unknown job) fail at once without retries, with a message that
names the problem; the run-failure sensor then dead-letters the event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from platform_assets.cts.checksums import ChecksumMismatch
from platform_assets.cts.importers.base import (
    IMPORTER_TAG,
    JOB_ID_COLUMN,
    ImportContext,
    Importer,
    NoReportFiles,
    UnknownOutputFile,
    VerifiedOutputs,
)
from platform_assets.cts.importers.registry import IMPORTERS, importer_for_job
from platform_assets.cts.job_meta import META_COMPLETE, META_ERROR, META_START, utc_now
from platform_assets.cts.strict_cast import (
    ReportFormatError,
    StrictCastError,
    UnsupportedColumnType,
)
from platform_assets.provenance import code_version_of, versioned_asset
from resources.cts.client import CtsError, CtsUnavailable
from resources.cts.outputs import CtsOutputNotFound, InvalidOutputPath
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    pa = lazy_import("pyarrow")
    pc = lazy_import("pyarrow.compute")

IMPORT_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3,
    delay=2,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)

# Errors that retrying cannot fix: fail the step at once (no RetryPolicy attempts).
PERMANENT_ERRORS = (
    ChecksumMismatch,
    StrictCastError,
    ReportFormatError,
    NoReportFiles,
    CtsOutputNotFound,
    UnicodeDecodeError,
    UnknownOutputFile,
    InvalidOutputPath,
    UnsupportedColumnType,
)


class ImportRejected(ValueError):
    """The job or the parsed rows break the importer's contract."""


def importer_fingerprint(importer: Importer) -> str:
    """Code version of the importer: its parse code (transitively) + table contract."""
    return code_version_of(
        importer.parse,
        externals={
            "image_name": importer.image_name,
            "keys": list(importer.keys),
            "schema": code_version_of(importer.declare_schema),
            "digest_handling": dict(sorted(importer.digest_handling.items())),
        },
    )


def check_job(importer: Importer, job: dict, job_id: str) -> None:
    if job.get("id") != job_id:
        raise ImportRejected(f"CTS returned job {job.get('id')!r} for {job_id!r}")
    if job.get("state") != "complete":
        raise ImportRejected(f"CTS job {job_id!r} is {job.get('state')!r}, not 'complete'")
    chosen = importer_for_job(job)
    if chosen is None or chosen.name != importer.name:
        raise ImportRejected(
            f"CTS job {job_id!r} ran image {(job.get('image') or {}).get('name')!r}, which "
            f"maps to {chosen.name if chosen else 'no importer'}, not {importer.name!r}"
        )


def check_rows(importer: Importer, rows: pa.Table, job_id: str) -> pa.Table:
    """Conform the importer's output to its declared table contract."""
    if rows.schema.names != importer.schema.names:
        raise ImportRejected(
            f"importer {importer.name!r} returned columns "
            f"{rows.schema.names}, its schema declares {importer.schema.names}"
        )
    rows = rows.cast(importer.schema)
    if rows.num_rows and not pc.all(pc.equal(rows[JOB_ID_COLUMN], job_id)).as_py():
        raise ImportRejected(f"importer {importer.name!r} returned rows of another job")
    counts = rows.group_by(list(importer.keys)).aggregate([([], "count_all")])
    duplicated = counts.filter(pc.greater(counts["count_all"], 1))
    if duplicated.num_rows:
        example = {k: duplicated[k][0].as_py() for k in importer.keys}
        raise ImportRejected(
            f"job {job_id!r}: {duplicated.num_rows} key(s) occur more than once in the reports, e.g. {example}"
        )
    return rows


def run_import(context: dg.AssetExecutionContext, importer: Importer) -> dg.MaterializeResult:
    """Fetch, verify, parse, MERGE and record one CTS job (the partition)."""
    job_id = context.partition_key
    cts = context.resources.cts_client
    job = cts.get_job(job_id)
    check_job(importer, job, job_id)
    cts.set_meta(job_id, {META_START: utc_now()}, unset_keys=[META_COMPLETE, META_ERROR])

    outputs = VerifiedOutputs(job, context.resources.cts_outputs.read_bytes)
    spark = context.resources.spark.spark_session if importer.uses_spark else None
    parsed = importer.parse(ImportContext(job=job, outputs=outputs, log=context.log, spark=spark))
    rows = check_rows(importer, parsed, job_id)

    lake = context.resources.lake
    merge = lake.merge(importer.table, rows, importer.keys, target_filter={JOB_ID_COLUMN: job_id}, logger=context.log)
    cts.set_meta(job_id, {META_COMPLETE: utc_now()})
    return dg.MaterializeResult(
        metadata={
            "rows": rows.num_rows,
            "rows_inserted": merge.rows_inserted,
            "rows_updated": merge.rows_updated,
            "table_version": merge.version,
            "new_table_version": merge.new_version,
            "merge_attempts": merge.attempts,
            "table_uri": merge.table_uri,
            "image_digest": job["image"]["digest"],
            "digest_variant": importer.variant_for(job["image"]["digest"]),
            "verified_files": dg.MetadataValue.json(outputs.verified),
        }
    )


def imported_rows_missing(importer: Importer, resources, materialization: dg.AssetMaterialization) -> str | None:
    """The job's rows recorded by the import are still in the importer's Delta table."""
    lake = resources.lake
    if not lake.exists(importer.table):
        return f"Delta table {lake.table_uri(importer.table)} is gone"
    recorded = materialization.metadata.get("rows")
    expected = (recorded.value or 0) if isinstance(recorded, dg.IntMetadataValue) else 0
    rows = lake.table(importer.table).to_pyarrow_dataset()
    present = rows.count_rows(filter=pc.field(JOB_ID_COLUMN) == materialization.partition) if expected else 0
    return f"{expected - present} of {expected} rows gone from {importer.table}" if present < expected else None


def build_import_asset(importer: Importer) -> dg.AssetsDefinition:
    resource_keys = {"cts_client", "lake", "cts_outputs"} | ({"spark"} if importer.uses_spark else set())

    @versioned_asset(
        key=importer.asset_key,
        description=importer.description,
        group_name="cts",
        partitions_def=importer.partitions_def,
        image="spark" if importer.uses_spark else "cts",
        k8s_resources={"cpu": "2", "memory": "4Gi"} if importer.uses_spark else {"cpu": "500m", "memory": "1Gi"},
        externals={"importer": importer_fingerprint(importer), "importer_name": importer.name},
        packages=["deltalake", "pyarrow", "awscrt"] + (["pyspark"] if importer.uses_spark else []),
        retry_policy=IMPORT_RETRY_POLICY,
        op_tags={IMPORTER_TAG: importer.name},
        required_resource_keys=resource_keys,
        output_missing=lambda resources, materialization: imported_rows_missing(importer, resources, materialization),
        automation_condition=None,  # requested by the cts_job_events sensor / backfills
        kinds={"deltalake", "spark" if importer.uses_spark else "python"},
        metadata={"table": importer.table, "merge_keys": list(importer.keys), "image_name": importer.image_name},
    )
    def cts_import(context: dg.AssetExecutionContext):
        try:
            return run_import(context, importer)
        except (CtsUnavailable, dg.Failure):
            raise  # transient: the retry policy takes it
        except (*PERMANENT_ERRORS, ImportRejected, CtsError) as error:
            raise dg.Failure(
                description=f"{type(error).__name__}: {error}",
                metadata={"error_type": type(error).__name__, "cts_job_id": context.partition_key},
                allow_retries=False,
            ) from error

    return cts_import


IMPORT_ASSETS = [build_import_asset(importer) for importer in IMPORTERS.values()]
IMPORT_JOBS = [importer.job for importer in IMPORTERS.values()]
