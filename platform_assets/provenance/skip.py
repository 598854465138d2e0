"""Skip when unchanged: compare what an asset would be computed from with the provenance
Dagster recorded on its latest materialization.

Dagster writes, on every materialization, the code version (`dagster/code_version`) and
the data version of each upstream asset it read (`dagster/input_data_version/<key>`).
Before computing, we ask the step for the *current* upstream data versions exactly the way
Dagster will record them (the step's data-version cache), so "equal" here means "the new
materialization would carry the same provenance as the last one".
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

# Dagster's provenance tag names; stable, but only exported from internal modules.
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DEFAULT_DATA_VERSION,
    get_input_data_version_tag,
)

FORCE_TAG = "platform/force"
FORCED_METADATA_KEY = "platform/forced"
REASON_METADATA_KEY = "platform/reason"
INPUT_VERSION_PREFIX = get_input_data_version_tag(dg.AssetKey("_"))[: -len("_")]


@dataclass(frozen=True)
class Decision:
    compute: bool
    reason: str


def is_forced(context: dg.AssetExecutionContext) -> bool:
    return str(context.run.tags.get(FORCE_TAG, "")).lower() in {"1", "true", "yes"}


def current_input_data_versions(context: dg.AssetExecutionContext) -> dict[str, str]:
    """Data version of each upstream asset as Dagster will record it for this step."""
    step = context.get_step_execution_context()
    key = context.asset_key
    versions = {}
    for parent in step.job_def.asset_layer.get(key).parent_keys:
        info = step.maybe_fetch_and_get_input_asset_version_info(parent)
        version = (info.data_version if info else None) or DEFAULT_DATA_VERSION
        versions[get_input_data_version_tag(parent)] = version.value
    return versions


def latest_materialization_tags(context: dg.AssetExecutionContext) -> dict[str, str] | None:
    partition = context.partition_key if context.has_partition_key else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=context.asset_key,
            asset_partitions=[partition] if partition is not None else None,
        ),
        limit=1,
    ).records
    if not records:
        return None
    materialization = records[0].asset_materialization
    return dict(materialization.tags or {}) if materialization else None


def decide(context: dg.AssetExecutionContext) -> Decision:
    """Compute or skip, and why (the reason is logged and stored as metadata)."""
    if is_forced(context):
        return Decision(True, f"forced by run tag {FORCE_TAG}")
    previous = latest_materialization_tags(context)
    if previous is None:
        return Decision(True, "never materialized")
    code_version = context.assets_def.code_versions_by_key.get(context.asset_key)
    if previous.get(CODE_VERSION_TAG) != code_version:
        return Decision(
            True, f"code version changed: {previous.get(CODE_VERSION_TAG)} -> {code_version}"
        )
    current_inputs = current_input_data_versions(context)
    previous_inputs = {k: v for k, v in previous.items() if k.startswith(INPUT_VERSION_PREFIX)}
    changed = sorted(
        tag.removeprefix(INPUT_VERSION_PREFIX)
        for tag in current_inputs.keys() | previous_inputs.keys()
        if current_inputs.get(tag) != previous_inputs.get(tag)
    )
    if changed:
        return Decision(True, "upstream data version changed: " + ", ".join(changed))
    return Decision(False, "unchanged: same code version and upstream data versions")
