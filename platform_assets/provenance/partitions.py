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

Lost outputs are recomputed (the asset's `output_missing=` is asked per partition), and in
a backfill run each unchanged partition's latest materialization is re-recorded (same data
version, `platform/rerecorded=True`) so the backfill counts it as done.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from platform_assets.provenance.dagster_internals import (
    BACKFILL_ID_TAG,
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    compute_logical_data_version,
    get_input_data_version_tag,
)
from platform_assets.provenance.skip import (
    CONFIG_METADATA_KEY,
    FORCED_METADATA_KEY,
    REASON_METADATA_KEY,
    config_version,
    current_data_version,
    decide,
    is_forced,
)
from platform_assets.provenance.spec import provenance_of


@dataclass(frozen=True)
class PartitionDecision:
    partition_key: str
    compute: bool
    reason: str
    input_versions: Mapping[dg.AssetKey, str]


def _latest_per_partition(context: dg.AssetExecutionContext, keys: list[str]) -> dict[str, dg.EventLogRecord]:
    latest: dict[str, dg.EventLogRecord] = {}
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
                latest[str(materialization.partition)] = record
        if not page.has_more or len(latest) == len(keys):
            return latest
        cursor = page.cursor


def partition_decisions(
    context: dg.AssetExecutionContext,
    input_versions: Mapping[str, Mapping[dg.AssetKey, str]] | None = None,
) -> Iterator[PartitionDecision]:
    """One decision per partition of the run. `input_versions[partition][upstream key]`
    overrides the recorded upstream version (e.g. a hash the asset computed from the very
    rows it is about to read); otherwise the same partition of each upstream is looked up."""
    spec = provenance_of(context.assets_def)
    code_version = context.assets_def.get_asset_spec(context.asset_key).code_version
    config = config_version(context)
    forced = is_forced(context.run.tags)
    backfill = context.run.tags.get(BACKFILL_ID_TAG)
    parents = sorted(context.assets_def.asset_deps[context.asset_key], key=lambda k: k.to_user_string())
    keys = list(context.partition_keys)
    previous = _latest_per_partition(context, keys)

    def output_missing(materialization: dg.AssetMaterialization) -> str | None:
        if spec is None or spec.output_missing is None:
            return None
        return spec.output_missing(context.resources, materialization)

    for key in keys:
        given = (input_versions or {}).get(key, {})
        current = {
            parent: given.get(parent) or current_data_version(context.instance, parent, key) for parent in parents
        }
        record = previous.get(key)
        decision = decide(
            record.asset_materialization if record else None,
            code_version=code_version,
            config_version=config,
            input_versions={k.to_user_string(): v for k, v in current.items()},
            forced=forced,
            output_missing=output_missing,
        )
        if not decision.compute and backfill and record is not None:
            _rerecord_partition(context, record, f"unchanged; re-recorded so that backfill {backfill} counts it")
        yield PartitionDecision(key, decision.compute, decision.reason, current)


def _rerecord_partition(context: dg.AssetExecutionContext, record: dg.EventLogRecord, reason: str) -> None:
    from platform_assets.provenance.handoff import rerecorded  # run time only

    materialization = record.asset_materialization
    assert materialization is not None
    again = rerecorded(record, reason)
    context.log_event(
        dg.AssetMaterialization(
            asset_key=context.asset_key,
            partition=materialization.partition,
            tags=dict(materialization.tags or {}),
            metadata=dict(again.metadata or {}),
        )
    )


def partition_materialization(
    context: dg.AssetExecutionContext,
    decision: PartitionDecision,
    *,
    data_version: dg.DataVersion | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dg.AssetMaterialization:
    """The materialization of one recomputed partition, with the provenance tags Dagster
    writes for a single-partition step (code version, input data versions, data version)."""
    code_version = context.assets_def.get_asset_spec(context.asset_key).code_version
    inputs = {k: dg.DataVersion(v) for k, v in decision.input_versions.items()}
    version = data_version or compute_logical_data_version(code_version, inputs)
    tags = {CODE_VERSION_TAG: code_version, DATA_VERSION_TAG: version.value}
    tags.update({get_input_data_version_tag(k): v.value for k, v in inputs.items()})
    provenance: dict[str, Any] = {
        REASON_METADATA_KEY: decision.reason,
        FORCED_METADATA_KEY: is_forced(context.run.tags),
    }
    config = config_version(context)
    if config is not None:
        provenance[CONFIG_METADATA_KEY] = config
    return dg.AssetMaterialization(
        asset_key=context.asset_key,
        partition=decision.partition_key,
        tags=tags,
        metadata={**dict(metadata or {}), **provenance},
    )
