"""Skip-when-unchanged for runs that cover many partitions at once.

A step over a partition range (single-run backfill policy: "many recipients in a constant
number of runs") cannot use the step-level decision: Dagster records one input data
version for the whole range. Such an asset asks for one decision per partition and
records one materialization per recomputed partition, with the same provenance tags the
step-level path writes, so both paths read each other's history.

    for decision in partition_decisions(context, input_versions=...):
        if decision.compute:
            ...
            yield partition_materialization(context, decision, data_version=..., metadata=...)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    DEFAULT_DATA_VERSION,
    compute_logical_data_version,
    get_input_data_version_tag,
)

from platform_assets.provenance.skip import (
    CONFIG_METADATA_KEY,
    FORCE_TAG,
    FORCED_METADATA_KEY,
    REASON_METADATA_KEY,
    config_version,
    is_forced,
    recorded_config_version,
)


@dataclass(frozen=True)
class PartitionDecision:
    partition_key: str
    compute: bool
    reason: str
    input_versions: Mapping[dg.AssetKey, str]


def _latest_per_partition(context: dg.AssetExecutionContext, keys: list[str]) -> dict[str, dg.AssetMaterialization]:
    latest: dict[str, dg.AssetMaterialization] = {}
    cursor = None
    while True:
        page = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=keys),
            limit=1000,
            cursor=cursor,
        )
        for record in page.records:  # newest first
            materialization = record.asset_materialization
            if materialization and materialization.partition not in latest:
                latest[materialization.partition] = materialization
        if not page.has_more or len(latest) == len(keys):
            return latest
        cursor = page.cursor


def _observed_version(context: dg.AssetExecutionContext, key: dg.AssetKey, partition: str) -> str:
    """Latest data version of the same partition of an upstream (materialized or observed)."""
    record = context.instance.get_latest_data_version_record(key, None, partition)
    entry = record.event_log_entry if record else None
    event = entry.asset_materialization or entry.asset_observation if entry else None
    version = (event.tags or {}).get(DATA_VERSION_TAG) if event else None
    return version or DEFAULT_DATA_VERSION.value


def partition_decisions(
    context: dg.AssetExecutionContext,
    input_versions: Mapping[str, Mapping[dg.AssetKey, str]] | None = None,
) -> Iterator[PartitionDecision]:
    """One decision per partition of the run. `input_versions[partition][upstream key]`
    overrides the recorded upstream version (e.g. a hash the asset computed from the very
    rows it is about to read); otherwise the same partition of each upstream is looked up."""
    code_version = context.assets_def.code_versions_by_key[context.asset_key]
    config = config_version(context)
    parents = sorted(context.assets_def.asset_deps[context.asset_key], key=lambda k: k.to_user_string())
    keys = list(context.partition_keys)
    previous = {} if is_forced(context) else _latest_per_partition(context, keys)
    for key in keys:
        given = (input_versions or {}).get(key, {})
        current = {parent: given.get(parent) or _observed_version(context, parent, key) for parent in parents}
        if is_forced(context):
            yield PartitionDecision(key, True, f"forced by run tag {FORCE_TAG}", current)
            continue
        before = previous.get(key)
        if before is None:
            yield PartitionDecision(key, True, "never materialized", current)
            continue
        tags = before.tags or {}
        changed = [
            parent.to_user_string()
            for parent, version in current.items()
            if tags.get(get_input_data_version_tag(parent)) != version
        ]
        if tags.get(CODE_VERSION_TAG) != code_version:
            yield PartitionDecision(key, True, "code version changed", current)
        elif recorded_config_version(before) != config:
            yield PartitionDecision(key, True, "run config changed", current)
        elif changed:
            yield PartitionDecision(key, True, "upstream data version changed: " + ", ".join(changed), current)
        else:
            yield PartitionDecision(key, False, "unchanged", current)


def partition_materialization(
    context: dg.AssetExecutionContext,
    decision: PartitionDecision,
    *,
    data_version: dg.DataVersion | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dg.AssetMaterialization:
    """The materialization of one recomputed partition, with the provenance tags Dagster
    writes for a single-partition step (code version, input data versions, data version)."""
    code_version = context.assets_def.code_versions_by_key[context.asset_key]
    inputs = {k: dg.DataVersion(v) for k, v in decision.input_versions.items()}
    version = data_version or compute_logical_data_version(code_version, inputs)
    tags = {CODE_VERSION_TAG: code_version, DATA_VERSION_TAG: version.value}
    tags.update({get_input_data_version_tag(k): v.value for k, v in inputs.items()})
    provenance: dict[str, Any] = {REASON_METADATA_KEY: decision.reason, FORCED_METADATA_KEY: is_forced(context)}
    config = config_version(context)
    if config is not None:
        provenance[CONFIG_METADATA_KEY] = config
    return dg.AssetMaterialization(
        asset_key=context.asset_key,
        partition=decision.partition_key,
        tags=tags,
        metadata={**dict(metadata or {}), **provenance},
    )
