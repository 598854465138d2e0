"""One Delta-table import asset per CTS importer, partitioned by CTS job id.

A partition is one CTS job: the Kafka sensor adds the job ids of a tick as dynamic
partitions and requests them, many per run (``batch_import``). For each job the asset
fetches the document, checks that every output lies below the job's ``output_dir`` and
that every file it reads matches the job's crc64nvme, lets the importer parse rows with
strict typing; the rows of all jobs of the run are MERGEd into
``$PLATFORM_LAKE_URL/cts/<importer>`` in one commit, each job's rows replaced exactly
(rows a new report no longer has are deleted in the same commit). Each partition has its
own provenance: re-running one is free (skipped when unchanged; otherwise the MERGE
writes no new version for equal rows).

The importer's ``parse`` (with the project code it calls), its table contract and its
declared digest handling are part of the asset's code version: fixing an importer marks
every imported partition stale, and one backfill of the importer job re-imports exactly
those (unchanged partitions skip).

Failures: transient ones (CTS/S3 unavailable, commit conflicts) are retried by the
RetryPolicy (exponential backoff + jitter); permanent ones (checksum mismatch, uncastable
value, missing report, unknown job, a path outside the job or too long) fail at once
without retries, with a message that names the problem (``errors.is_permanent``
classifies by cause). A failing job never fails the others of its run: they are
committed and materialized first; the run-failure sensor then dead-letters exactly the
jobs that failed, each with its own error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from platform_assets.cts.batch_import import ImportRunConfig, import_batch
from platform_assets.cts.errors import failure_text, is_permanent
from platform_assets.cts.importers.base import IMPORTER_TAG, JOB_ID_COLUMN, MAX_JOBS_PER_RUN, Importer
from platform_assets.cts.importers.registry import IMPORTERS
from platform_assets.cts.table_checks import check_specs, table_checks
from platform_assets.provenance import code_version_of, versioned_asset
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


def imported_rows_missing(importer: Importer, resources, materialization: dg.AssetMaterialization) -> str | None:
    """The job's rows recorded by the import are still in the importer's Delta table."""
    lake = resources.lake
    if not lake.exists(importer.table):
        return f"Delta table {lake.table_uri(importer.table)} is gone"
    recorded = materialization.metadata.get("rows")
    expected = (recorded.value or 0) if isinstance(recorded, dg.IntMetadataValue) else 0
    rows = lake.table(importer.table).to_pyarrow_dataset()
    # deltalake may read strings as string_view, which has no comparison with a string
    job_rows = pc.field(JOB_ID_COLUMN).cast(pa.string()) == materialization.partition
    present = rows.count_rows(filter=job_rows) if expected else 0
    return f"{expected - present} of {expected} rows gone from {importer.table}" if present < expected else None


def build_import_asset(importer: Importer) -> dg.AssetsDefinition:
    resource_keys = {"cts_client", "lake", "cts_outputs"} | ({"spark"} if importer.uses_spark else set())

    @versioned_asset(
        key=importer.asset_key,
        description=importer.description,
        group_name="cts",
        partitions_def=importer.partitions_def,
        image=importer.image,
        k8s_resources=importer.k8s_resources,
        externals={"importer": importer_fingerprint(importer), "importer_name": importer.name},
        packages=["deltalake", "pyarrow", "awscrt"] + (["pyspark"] if importer.uses_spark else []),
        retry_policy=IMPORT_RETRY_POLICY,
        # many jobs per run: a backfill of N partitions runs in ceil(N / MAX_JOBS_PER_RUN)
        # runs; the function decides per partition (provenance) and materializes each
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_JOBS_PER_RUN),
        decides_per_partition=True,
        execution_only_config=["events"],
        op_tags={IMPORTER_TAG: importer.name},
        required_resource_keys=resource_keys,
        output_missing=lambda resources, materialization: imported_rows_missing(importer, resources, materialization),
        automation_condition=None,  # requested by the cts_job_events sensor / backfills
        kinds={"deltalake", "spark" if importer.uses_spark else "python"},
        check_specs=check_specs(importer),
        metadata={"table": importer.table, "merge_keys": list(importer.keys), "image_name": importer.image_name},
    )
    def cts_import(context: dg.AssetExecutionContext, config: ImportRunConfig):
        try:
            outcome = import_batch(context, importer)  # records each job's materialization itself
        except dg.Failure:
            raise
        except Exception as error:  # the batch as a whole failed (e.g. its one MERGE commit)
            if not is_permanent(error):
                raise  # transient: the retry policy takes it
            raise dg.Failure(
                description=failure_text(error, redact=context.resources.cts_client.redact),
                metadata={"error_type": type(error).__name__},
                allow_retries=False,
            ) from error
        # no range-wide materialization: the checks, over the run's jobs as the table has them now
        yield from table_checks(context.resources.lake, importer, context.partition_keys, outcome.imported_rows)
        if outcome.failure is not None:
            raise outcome.failure

    return cts_import


IMPORT_ASSETS = [build_import_asset(importer) for importer in IMPORTERS.values()]
IMPORT_JOBS = [importer.job for importer in IMPORTERS.values()]
