"""A code location for the end-to-end skip tests: a partitioned asset (backfills) and an
asset with versioned checks (check status after a no-op), each counting computations."""

import os
from pathlib import Path

import dagster as dg

from platform_assets.provenance import content_version, versioned_asset, versioned_check

STATE = Path(os.environ.get("SKIP_STATE_DIR", "/tmp/skip-state"))
DAYS = dg.StaticPartitionsDefinition(["p1", "p2", "p3"])


def _count(name: str) -> None:
    with open(STATE / f"{name}.count", "a") as handle:
        handle.write(f"{os.getpid()}\n")


@versioned_asset(key=["skip", "daily"], partitions_def=DAYS, automation_condition=None)
def daily(context: dg.AssetExecutionContext):
    _count(f"daily-{context.partition_key}")
    return dg.MaterializeResult(data_version=content_version(context.partition_key))


@versioned_asset(key=["skip", "table"], automation_condition=None)
def table(context: dg.AssetExecutionContext):
    _count("table")
    return dg.MaterializeResult(data_version=content_version("table"), metadata={"rows": 3})


@versioned_check(asset=table)
def has_rows(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    _count("has_rows")
    return dg.AssetCheckResult(passed=True, metadata={"rows": 3})


@versioned_check(asset=table)
def rows_are_unique(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    _count("rows_are_unique")
    return dg.AssetCheckResult(passed=True)


table_job = dg.define_asset_job("table_job", selection=dg.AssetSelection.assets(table))

defs = dg.Definitions(assets=[daily, table], asset_checks=[has_rows, rows_are_unique], jobs=[table_job])
