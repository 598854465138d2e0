"""Import many CTS jobs in one run: each job still its own partition, with its own
provenance, success or failure; their rows MERGEd in one commit.

A run of an import job covers one partition (a single job, e.g. a DLQ replay or a UI
click) or a range of them (what `cts_job_events` requests per tick, a backfill chunk).
For every partition the provenance core decides whether it must be computed (never
imported, importer changed, forced) or skipped (unchanged). The jobs to compute are
fetched together (one pool), each is checked, confined and parsed on its own: a job that
fails does so alone. The rows of all jobs that succeeded go to the table in **one**
MERGE (one commit, whatever the number of jobs; each job's slice replaced exactly), then
each of those partitions is materialized with its own metadata.

Failures, per job: a permanent one (checksum, cast, missing report, outside output_dir,
unknown job...) never fails the others; after the successes are committed and recorded,
the step fails with the failed jobs and their errors in its metadata (``failed_jobs``),
so those partitions show as failed and `cts_import_failures` dead-letters exactly them,
each with its own error. A transient one (CTS or store unavailable) makes that failure
retryable: the step is retried by its RetryPolicy, and on the retry the jobs already
imported are skipped by provenance, so only the rest is redone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.cts.errors import ImportRejected, failure_text, is_permanent
from platform_assets.cts.events import trace_of
from platform_assets.cts.importers.base import JOB_ID_COLUMN, ImportContext, Importer, VerifiedOutputs
from platform_assets.cts.importers.registry import importer_for_image, job_image_name
from platform_assets.cts.job_meta import META_COMPLETE, META_ERROR, META_START, utc_now
from platform_assets.cts.table_checks import column_schema, rows_preview
from platform_assets.provenance.dagster_internals import log_materializations_as_batch
from platform_assets.provenance.partitions import PartitionDecision, partition_decisions, partition_materialization
from resources.cts.text import clip, printable
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    pa = lazy_import("pyarrow")
    pc = lazy_import("pyarrow.compute")

FAILED_JOBS_KEY = "failed_jobs"  # step-failure metadata: {job id: {"error", "trace", "transient"}}
FAILED_ERROR_CHARS = 500
FAILED_TRACE_CHARS = 1_500


class ImportRunConfig(dg.Config):
    """Run config of an import run. ``events``: the CTS event that requested each job
    (job id -> event JSON), dead-lettered if that job fails. Execution-only: not part of
    any partition's provenance."""

    events: dict[str, str] = {}


@dataclasses.dataclass
class JobImport:
    """One job on its way through a batch."""

    decision: PartitionDecision
    document: dict | None = None
    outputs: VerifiedOutputs | None = None
    rows: pa.Table | None = None
    error: BaseException | None = None

    @property
    def job_id(self) -> str:
        return self.decision.partition_key

    @property
    def pending(self) -> bool:
        return self.error is None


def check_job(importer: Importer, job: dict, job_id: str) -> None:
    """The job document is the one asked for, complete, of this importer's image, and
    has the fields an import reads (a malformed document is a permanent error naming
    the field, never a ``KeyError`` deep inside)."""
    if job.get("id") != job_id:
        raise ImportRejected(f"CTS returned job {printable(job.get('id'), 80)} for {job_id!r}")
    if job.get("state") != "complete":
        raise ImportRejected(f"CTS job {job_id!r} is {printable(job.get('state'), 80)}, not 'complete'")
    image_name = job_image_name(job)
    if image_name is None:
        raise ImportRejected(f"CTS job {job_id!r} has no image name (image.name)")
    if not isinstance(job["image"].get("digest"), str):
        raise ImportRejected(f"CTS job {job_id!r} has no image digest (image.digest)")
    chosen = importer_for_image(image_name)
    if chosen is None or chosen.name != importer.name:
        raise ImportRejected(
            f"CTS job {job_id!r} ran image {printable(image_name, 200)}, which "
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
            f"job {job_id!r}: {duplicated.num_rows} key(s) occur more than once in the reports, "
            f"e.g. {printable(str(example), 300)}"
        )
    return rows


def _record_meta(jobs: Sequence[JobImport], cts, fields: dict[str, str], unset: Sequence[str] = ()) -> None:
    """One meta PUT per job, concurrently; a job whose PUT fails gets that error."""
    errors = cts.set_meta_many([j.job_id for j in jobs], fields, unset)
    for job in jobs:
        if errors.get(job.job_id) is not None:
            job.error = errors[job.job_id]


def _fetch_and_check(importer: Importer, jobs: Sequence[JobImport], context: dg.AssetExecutionContext) -> None:
    documents = context.resources.cts_client.get_jobs([j.job_id for j in jobs])
    for job in jobs:
        try:
            document = documents[job.job_id]
            if isinstance(document, Exception):
                raise document
            check_job(importer, document, job.job_id)
            job.document = document
            job.outputs = VerifiedOutputs(document, context.resources.cts_outputs)  # confined before any read
        except Exception as error:
            job.error = error


def _parse(importer: Importer, job: JobImport, context: dg.AssetExecutionContext) -> None:
    assert job.document is not None and job.outputs is not None
    try:
        spark = context.resources.spark.spark_session if importer.uses_spark else None
        parsed = importer.parse(ImportContext(job=job.document, outputs=job.outputs, log=context.log, spark=spark))
        job.rows = check_rows(importer, parsed, job.job_id)
    except Exception as error:
        job.error = error


def _failed_jobs_metadata(failed: Sequence[JobImport], redact) -> dict[str, Any]:
    return {
        job.job_id: {
            "error": clip(failure_text(job.error, redact=redact), FAILED_ERROR_CHARS),
            "trace": clip(trace_of(job.error), FAILED_TRACE_CHARS, redact=redact, keep_tail=FAILED_TRACE_CHARS),
            "transient": not is_permanent(job.error),
        }
        for job in failed
        if job.error is not None
    }


@dataclasses.dataclass
class BatchOutcome:
    """What a batch did: each imported job's report row count, and the failure naming the
    jobs that did not import (raised by the asset after its checks), if any."""

    imported_rows: dict[str, int] = dataclasses.field(default_factory=dict)
    failure: dg.Failure | None = None


def import_batch(context: dg.AssetExecutionContext, importer: Importer) -> BatchOutcome:
    """Import the run's partitions (see the module docstring): records one
    materialization per job imported; the jobs that did not import are named in the
    outcome's failure."""
    cts = context.resources.cts_client
    jobs = []
    for decision in partition_decisions(context):
        if decision.compute:
            jobs.append(JobImport(decision))
        else:
            context.log.info(f"Skipped CTS job {decision.partition_key!r}: {decision.reason}")
    if not jobs:
        return BatchOutcome()
    _fetch_and_check(importer, jobs, context)
    _record_meta([j for j in jobs if j.pending], cts, {META_START: utc_now()}, [META_COMPLETE, META_ERROR])
    for job in jobs:
        if job.pending:
            _parse(importer, job, context)

    imported = [j for j in jobs if j.pending and j.rows is not None]
    if imported:
        rows = pa.concat_tables([j.rows for j in imported if j.rows is not None])
        # one commit for the batch; each job's rows replaced exactly (rows a report lost go)
        merge = context.resources.lake.merge(
            importer.table,
            rows,
            importer.keys,
            target_filter={JOB_ID_COLUMN: [j.job_id for j in imported]},
            delete_missing=True,
            logger=context.log,
        )
        _record_meta(imported, cts, {META_COMPLETE: utc_now()})
        batch = {
            "batch_jobs": len(imported),
            "batch_rows_inserted": merge.rows_inserted,
            "batch_rows_updated": merge.rows_updated,
            "batch_rows_deleted": merge.rows_deleted,
            "table_version": merge.version,
            "new_table_version": merge.new_version,
            "merge_attempts": merge.attempts,
            "table_uri": merge.table_uri,
        }
        schema = column_schema(importer)  # the same for every job of the batch
        # one event batch (one insert: the platform's instance has batches on, see
        # docs/cts.md: PostgreSQL, 500 materializations in ~1.4 s instead of ~25 s)
        log_materializations_as_batch(
            context,
            [
                partition_materialization(
                    context,
                    job.decision,
                    metadata={
                        "rows": job.rows.num_rows,
                        "dagster/column_schema": schema,
                        "dagster/row_count": job.rows.num_rows,
                        "preview": rows_preview(job.rows),
                        **batch,
                        "image_digest": job.document["image"]["digest"],
                        "digest_variant": importer.variant_for(job.document["image"]["digest"]),
                        "verified_files": dg.MetadataValue.json(job.outputs.verified),
                    },
                )
                for job in imported
                if job.pending and job.rows is not None and job.document is not None and job.outputs is not None
            ],
        )

    outcome = BatchOutcome(imported_rows={j.job_id: j.rows.num_rows for j in imported if j.rows is not None})
    failed = [j for j in jobs if j.error is not None]
    if failed:
        transient = [j for j in failed if j.error is not None and not is_permanent(j.error)]
        first = failed[0]
        assert first.error is not None
        outcome.failure = dg.Failure(
            description=(
                f"{len(failed)} of {len(jobs)} CTS job(s) did not import"
                + (f" ({len(transient)} transient: retried)" if transient else "")
                + f"; {first.job_id}: {failure_text(first.error, redact=cts.redact)}"
            ),
            metadata={
                FAILED_JOBS_KEY: dg.MetadataValue.json(_failed_jobs_metadata(failed, cts.redact)),
                "imported_jobs": len(jobs) - len(failed),
            },
            allow_retries=bool(transient),
        )
    return outcome
