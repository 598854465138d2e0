"""Resuming N steps from an earlier partition M < N computed by the same code and config.

Fixed steps make propagation a pure function of the start state, so the arrays of a
finished M-step run (nominal trajectory, ensemble moments, every member's final state)
are all that is needed to continue to N. They are published with the other outputs as
``state.npz``; the materialization of partition M records where (``blob_prefix``), with
which config (``config_hash``) and code (Dagster's code-version tag).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

# Dagster's tag for the code version on a materialization (also used by the provenance core).
from dagster._core.definitions.data_version import CODE_VERSION_TAG

from platform_assets.propagation.partitions import existing_steps

STATE_FILE = "state.npz"


@dataclass(frozen=True, repr=False)  # repr=False: code_version_of cannot read a generated __repr__
class ResumePoint:
    steps: int
    blob_prefix: str


def find_resume_point(
    instance: dg.DagsterInstance,
    asset_key: dg.AssetKey,
    steps: int,
    code_version: str | None,
    config_hash: str,
) -> ResumePoint | None:
    """The largest partition M < steps whose materialization has this code version and config."""
    candidates = [str(m) for m in existing_steps(instance) if m < steps]
    if not candidates or code_version is None:
        return None
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=candidates), limit=10_000
    ).records
    best: ResumePoint | None = None
    for record in records:
        materialization = record.asset_materialization
        if materialization is None or (materialization.tags or {}).get(CODE_VERSION_TAG) != code_version:
            continue
        metadata = materialization.metadata
        if "config_hash" not in metadata or metadata["config_hash"].value != config_hash:
            continue
        m = int(materialization.partition)
        if best is None or m > best.steps:
            best = ResumePoint(m, str(metadata["blob_prefix"].value))
    return best
