"""A code location for the durable-execution test: `first` finishes, `second` blocks
until the test kills the run worker, then (in the retry) completes."""

import os
import time
from pathlib import Path

import dagster as dg

from platform_assets.provenance import versioned_asset

STATE = Path(os.environ.get("DURABLE_STATE_DIR", "/tmp/durable-state"))


def _count(name: str) -> None:
    with open(STATE / f"{name}.count", "a") as handle:
        handle.write(f"{os.getpid()}\n")


@versioned_asset(key=["durable", "first"])
def first(context: dg.AssetExecutionContext):
    _count("first")


@versioned_asset(key=["durable", "second"], deps=[first])
def second(context: dg.AssetExecutionContext):
    (STATE / "second.started").write_text(str(os.getpid()))
    while not (STATE / "release").exists():
        time.sleep(0.2)
    _count("second")


durable_job = dg.define_asset_job("durable_job", selection=[first, second], executor_def=dg.in_process_executor)

defs = dg.Definitions(assets=[first, second], jobs=[durable_job])
