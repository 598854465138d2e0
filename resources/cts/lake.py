"""The Delta Lake root (``PLATFORM_LAKE_URL``) and an idempotent MERGE into its tables.

``merge`` is the one way the platform writes keyed rows: create the table if missing,
then ``MERGE ... WHEN MATCHED AND <any non-key column differs> THEN UPDATE
WHEN NOT MATCHED THEN INSERT``. Re-importing identical rows therefore matches nothing
and writes **no new table version** (replays are free and invisible). With
``delete_missing`` the source replaces a slice of the table exactly:
``WHEN NOT MATCHED BY SOURCE AND <target in the slice> THEN DELETE`` removes the slice's
rows the source no longer has, in the same single commit (a re-import of a job whose
report lost rows leaves none of them behind).

Concurrency: delta-rs uses optimistic concurrency; a MERGE that lost the race fails with
``CommitFailedError`` ("a concurrent transaction added new data") and is simply re-run
against the new snapshot, so two imports into one table at once end with exactly one row
per key. On local disk the commit is an atomic create-if-absent. On S3 the commit needs
a conditional put: ``PLATFORM_LAKE_S3_CONDITIONAL_PUT=etag`` (AWS S3, MinIO, R2) sets
deltalake's ``conditional_put``; unset, delta-rs falls back to unsafe rename, where two
concurrent commits can overwrite each other (lost rows), and every S3 merge logs a
warning (tests leave it unset: moto's conditional put is flaky).

Each MERGE may be restricted to a slice of the target (``target_filter``, e.g. the CTS
job id all rows share), so an import neither scans nor conflicts with the whole table.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

import dagster as dg


@dataclass(frozen=True)
class MaintenanceResult:
    table_uri: str
    version: int  # table version afterwards
    files_before: int
    files_after: int
    files_compacted: int  # small files rewritten into larger ones
    files_vacuumed: int  # unreferenced files older than the retention, deleted
    attempts: int


@dataclass(frozen=True)
class MergeResult:
    table_uri: str
    version: int  # table version after the merge
    new_version: bool  # False when the merge changed nothing (replay)
    rows_inserted: int
    rows_updated: int
    attempts: int
    rows_deleted: int = 0


log = logging.getLogger(__name__)

CONDITIONAL_PUT_MODES = ("etag",)  # deltalake storage option ``conditional_put``


def _quote(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


TargetFilter = Mapping[str, str | Sequence[str]]  # column -> the value (or values) of the slice


def slice_predicate(target_filter: TargetFilter) -> str:
    """``t.col = 'v'`` / ``t.col IN ('v', 'w')`` per column, ANDed (values are quoted)."""
    parts = []
    for column, value in sorted(target_filter.items()):
        if isinstance(value, str):
            parts.append(f"t.{_quote(column)} = {_literal(value)}")
        else:
            values = sorted(set(value))
            if not values:
                raise ValueError(f"target filter on {column!r} has no values")
            parts.append(f"t.{_quote(column)} IN ({', '.join(map(_literal, values))})")
    return " AND ".join(parts)


def merge_predicates(
    columns: Sequence[str], keys: Sequence[str], target_filter: TargetFilter | None = None
) -> tuple[str, str | None]:
    """(join predicate on the keys (+ the slice of ``target_filter``), "any non-key
    column differs" predicate)."""
    join = " AND ".join(
        [f"t.{_quote(k)} = s.{_quote(k)}" for k in keys] + ([slice_predicate(target_filter)] if target_filter else [])
    )
    changed = " OR ".join(f"(t.{_quote(c)} IS DISTINCT FROM s.{_quote(c)})" for c in columns if c not in keys)
    return join, (changed or None)


class DeltaLake(dg.ConfigurableResource):
    """Delta tables under ``url`` (``file://...`` or ``s3://bucket/prefix``)."""

    url: str
    aws_endpoint_url: str | None = None
    aws_allow_http: bool = False
    # "etag" for safe concurrent S3 commits (PLATFORM_LAKE_S3_CONDITIONAL_PUT)
    s3_conditional_put: str | None = None
    max_commit_attempts: int = 20

    # --- locations -----------------------------------------------------------
    def table_uri(self, table_name: str) -> str:
        """``<root>/<table_name>``; a local path for ``file://`` roots."""
        root = self.url.rstrip("/")
        if root.startswith("file://"):
            root = urlparse(root).path
        return f"{root}/{table_name.strip('/')}"

    def storage_options(self) -> dict[str, str]:
        if not self.url.startswith("s3://"):
            return {}
        options = {}
        if self.aws_endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.aws_endpoint_url
        if self.aws_allow_http or (self.aws_endpoint_url or "").startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
        if self.s3_conditional_put:
            if self.s3_conditional_put not in CONDITIONAL_PUT_MODES:
                raise ValueError(
                    f"PLATFORM_LAKE_S3_CONDITIONAL_PUT must be one of "
                    f"{CONDITIONAL_PUT_MODES} or unset, not "
                    f"{self.s3_conditional_put!r}"
                )
            options["conditional_put"] = self.s3_conditional_put
        else:
            options["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
        return options

    # --- reads -----------------------------------------------------------------
    def table(self, table_name: str):
        from deltalake import DeltaTable

        return DeltaTable(self.table_uri(table_name), storage_options=self.storage_options())

    def exists(self, table_name: str) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.table_uri(table_name), storage_options=self.storage_options())

    def read(self, table_name: str):
        """The whole table as a pyarrow Table (small tables / tests)."""
        return self.table(table_name).to_pyarrow_table()

    def version(self, table_name: str) -> int | None:
        return self.table(table_name).version() if self.exists(table_name) else None

    # --- maintenance ----------------------------------------------------------
    def maintain(self, table_name: str, retention_hours: int | None = None) -> MaintenanceResult:
        """Compact small files, delete unreferenced files older than the retention,
        write a checkpoint and drop expired log entries: what keeps MERGE cost flat as
        imports accumulate (each MERGE otherwise scans ever more small files and replays
        an ever longer log).

        ``retention_hours``: how long removed files stay readable (readers of older
        versions, time travel); ``None`` uses the table's ``delta.deletedFileRetentionDuration``
        (Delta's default: 7 days), and shorter than that is refused, so a reader that
        started before the vacuum never loses a file it still reads. Compaction commits
        with optimistic concurrency like a MERGE: a conflict with a concurrent import is
        retried on the new snapshot.
        """
        from deltalake.exceptions import CommitFailedError

        for attempt in range(1, self.max_commit_attempts + 1):
            table = self.table(table_name)
            before = len(table.file_uris())
            try:
                metrics = table.optimize.compact()
            except CommitFailedError:
                if attempt == self.max_commit_attempts:
                    raise
                time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
                continue
            expired = table.vacuum(retention_hours=retention_hours, dry_run=True)
            if expired:  # a vacuum commits (start/end) even when there is nothing to delete
                table.vacuum(retention_hours=retention_hours, dry_run=False)
            table.create_checkpoint()
            table.cleanup_metadata()
            return MaintenanceResult(
                self.table_uri(table_name),
                table.version(),
                before,
                len(table.file_uris()),
                int(metrics.get("numFilesRemoved", 0)),
                len(expired),
                attempt,
            )
        raise AssertionError("unreachable")

    # --- writes ----------------------------------------------------------------
    def ensure_table(self, table_name: str, schema) -> None:
        """Create the table with ``schema`` (pyarrow) unless it exists; race-safe."""
        from deltalake import DeltaTable
        from deltalake.exceptions import CommitFailedError, DeltaError

        if self.exists(table_name):
            return
        try:
            DeltaTable.create(
                self.table_uri(table_name), schema=schema, mode="ignore", storage_options=self.storage_options()
            )
        except (CommitFailedError, DeltaError):
            if not self.exists(table_name):  # lost the creation race: fine; else re-raise
                raise

    @property
    def concurrent_writes_safe(self) -> bool:
        return not self.url.startswith("s3://") or bool(self.s3_conditional_put)

    def merge(
        self,
        table_name: str,
        data,
        keys: Sequence[str],
        target_filter: TargetFilter | None = None,
        delete_missing: bool = False,
        logger=None,
    ) -> MergeResult:
        """MERGE pyarrow ``data`` into ``table_name`` on ``keys`` (see module docstring).

        ``data`` must not repeat a key (the caller validates and names the offender).
        ``target_filter`` (column -> the value, or values, rows of ``data`` have) limits
        the target rows the merge reads; with ``delete_missing`` the target rows of that
        slice that ``data`` does not have are deleted in the same commit. Columns new to
        the table are added (schema evolution, e.g. a fixed importer).
        """
        if delete_missing and not target_filter:
            raise ValueError("delete_missing needs a target_filter: it would delete the rest of the table")
        from deltalake.exceptions import CommitFailedError

        if not self.concurrent_writes_safe:
            (logger or log).warning(
                f"merge into {table_name!r} on S3 without PLATFORM_LAKE_S3_CONDITIONAL_PUT: "
                "delta-rs commits by unsafe rename, concurrent writers can lose rows; set it "
                "to 'etag' (AWS S3, MinIO, R2)"
            )

        missing = [k for k in keys if k not in data.column_names]
        if missing:
            raise ValueError(f"merge into {table_name!r}: key columns {missing} not in data")
        self.ensure_table(table_name, data.schema)
        for attempt in range(1, self.max_commit_attempts + 1):
            table = self.table(table_name)
            before = table.version()
            existing = {f.name for f in table.schema().fields}
            added = [c for c in data.column_names if c not in existing]
            # a schema that grew (fixed importer) updates every matched row once
            join, changed = merge_predicates([c for c in data.column_names if c in existing], keys, target_filter)
            merger = table.merge(data, predicate=join, source_alias="s", target_alias="t", merge_schema=bool(added))
            if changed or added:
                merger = merger.when_matched_update_all(predicate=None if added else changed)
            merger = merger.when_not_matched_insert_all()
            if delete_missing and target_filter:
                merger = merger.when_not_matched_by_source_delete(predicate=slice_predicate(target_filter))
            try:
                metrics = merger.execute()
            except CommitFailedError:
                if attempt == self.max_commit_attempts:
                    raise
                time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
                continue
            inserted = int(metrics.get("num_target_rows_inserted", 0))
            updated = int(metrics.get("num_target_rows_updated", 0))
            deleted = int(metrics.get("num_target_rows_deleted", 0))
            after = table.version()  # the merge updated this snapshot in place
            return MergeResult(self.table_uri(table_name), after, after != before, inserted, updated, attempt, deleted)
        raise AssertionError("unreachable")
