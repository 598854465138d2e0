"""Job `cts_table_maintenance`: keep the CTS Delta tables fast as imports accumulate.

Every import commit adds small files and a log entry; left alone, each MERGE scans more
files and replays a longer log (measured: 41 ms per commit for the first 200 single-job
imports, 72 ms for the last 200 of 1,000). For every importer table this job compacts
small files, vacuums files no version within the retention still references, writes a
checkpoint and drops expired log entries (``DeltaLake.maintain``). The retention (default:
the table's own, 7 days) keeps every file a concurrent or recent reader may still read.
Scheduled hourly by `sensors/cts/maintenance.py`; safe to run any time (a conflict with a
concurrent import is retried).
"""

import dagster as dg

from platform_assets.cts.importers.registry import IMPORTERS
from resources.cts.lake import DeltaLake
from resources.settings import settings
from resources.shared.images import k8s_op_tags


class MaintenanceConfig(dg.Config):
    """``retention_hours``: how long removed files stay readable; ``None`` (default) is the
    table's ``delta.deletedFileRetentionDuration`` (7 days); shorter is refused."""

    retention_hours: int | None = None


@dg.op(description="Compact, vacuum (retention-safe) and checkpoint every CTS Delta table.")
def maintain_cts_tables(context: dg.OpExecutionContext, config: MaintenanceConfig, lake: DeltaLake) -> None:
    summary = {}
    for importer in IMPORTERS.values():
        if not lake.exists(importer.table):
            continue
        result = lake.maintain(importer.table, retention_hours=config.retention_hours)
        summary[importer.table] = {
            "version": result.version,
            "files_before": result.files_before,
            "files_after": result.files_after,
            "files_compacted": result.files_compacted,
            "files_vacuumed": result.files_vacuumed,
        }
        context.log.info(f"{importer.table}: {summary[importer.table]}")
    context.add_output_metadata({"tables": dg.MetadataValue.json(summary)})


def _job_tags() -> dict:
    # light work: in the run worker; on Kubernetes its pod runs the CTS image (deltalake)
    return k8s_op_tags("cts", {"cpu": "500m", "memory": "1Gi"}) if settings().is_k8s else {}


@dg.job(
    name="cts_table_maintenance",
    executor_def=dg.in_process_executor,
    tags=_job_tags(),
    description="Compact, vacuum and checkpoint the CTS Delta tables (scheduled hourly).",
)
def cts_table_maintenance() -> None:
    maintain_cts_tables()
