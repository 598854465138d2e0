"""Resuming N steps from an earlier partition M < N computed by the same code and config.

Fixed steps make propagation a pure function of the start state, so the arrays of a
finished M-step run (nominal trajectory, ensemble moments, every member's final state)
are all that is needed to continue to N. They are published with the other outputs as
``state.npz``; the materialization of partition M records where (``blob_prefix``) and,
through the provenance core, with which code (``dagster/code_version``) and which
result-relevant config (``platform/config_version``, execution-only fields left out):
the same notion of "same result" the core uses to skip an existing N.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from platform_assets.propagation.partitions import existing_steps
from platform_assets.provenance import CONFIG_METADATA_KEY
from platform_assets.provenance.dagster_internals import CODE_VERSION_TAG

STATE_FILE = "state.npz"


@dataclass(frozen=True)
class ResumePoint:
    steps: int
    blob_prefix: str


def latest_materialization(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str
) -> dg.AssetMaterialization | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    return records[0].asset_materialization if records else None


def find_resume_point(
    instance: dg.DagsterInstance,
    asset_key: dg.AssetKey,
    steps: int,
    code_version: str | None,
    config_version: str | None,
) -> ResumePoint | None:
    """The largest partition M < steps whose latest materialization has this code and config version."""
    if code_version is None:
        return None
    for m in sorted((m for m in existing_steps(instance) if m < steps), reverse=True):
        materialization = latest_materialization(instance, asset_key, str(m))
        if materialization is None or (materialization.tags or {}).get(CODE_VERSION_TAG) != code_version:
            continue
        metadata = materialization.metadata
        recorded = metadata.get(CONFIG_METADATA_KEY)
        if (recorded.value if recorded is not None else None) == config_version and "blob_prefix" in metadata:
            return ResumePoint(m, str(metadata["blob_prefix"].value))
    return None
