"""Skip when unchanged: compare what an asset would be computed from with the provenance
recorded on its latest materialization.

Dagster writes, on every materialization, the code version (`dagster/code_version`) and
the data version of each upstream asset it read (`dagster/input_data_version/<key>`).
Before computing, we ask the step for the *current* upstream data versions exactly the way
Dagster will record them (the step's data-version cache), so "equal" here means "the new
materialization would carry the same provenance as the last one". Run configuration is
provenance too (a different `dt` is a different result): its hash is recorded as
`platform/config_version` metadata and compared the same way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import dagster as dg

# Dagster's provenance tag names and logical-version function; stable, but only exported
# from internal modules.
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DEFAULT_DATA_VERSION,
    compute_logical_data_version,
    get_input_data_version_tag,
)

FORCE_TAG = "platform/force"
FORCED_METADATA_KEY = "platform/forced"
REASON_METADATA_KEY = "platform/reason"
CONFIG_METADATA_KEY = "platform/config_version"
# definition metadata: run-config fields that change how, not what, an asset computes
EXECUTION_ONLY_CONFIG_KEY = "platform/execution_only_config"
INPUT_VERSION_PREFIX = get_input_data_version_tag(dg.AssetKey("_"))[: -len("_")]


@dataclass(frozen=True)
class Decision:
    compute: bool
    reason: str


def is_forced(context: dg.AssetExecutionContext) -> bool:
    return str(context.run.tags.get(FORCE_TAG, "")).lower() in {"1", "true", "yes"}


def execution_only_config(context: dg.AssetExecutionContext) -> set[str]:
    metadata = context.assets_def.metadata_by_key.get(context.asset_key, {})
    declared = metadata.get(EXECUTION_ONLY_CONFIG_KEY)
    return set(getattr(declared, "value", declared) or ())


def config_version(context: dg.AssetExecutionContext) -> str | None:
    """Hash of the step's resolved run config without its execution-only fields (e.g.
    whether to use Dask), or None for assets without such config."""
    config = context.op_execution_context.op_config
    if isinstance(config, dict):
        excluded = execution_only_config(context)
        config = {k: v for k, v in config.items() if k not in excluded}
    if not config:
        return None
    canonical = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def current_input_data_versions(context: dg.AssetExecutionContext) -> dict[dg.AssetKey, dg.DataVersion]:
    """Data version of each upstream asset as Dagster will record it for this step."""
    step = context.get_step_execution_context()
    versions = {}
    for parent in step.job_def.asset_layer.get(context.asset_key).parent_keys:
        info = step.maybe_fetch_and_get_input_asset_version_info(parent)
        versions[parent] = (info.data_version if info else None) or DEFAULT_DATA_VERSION
    return versions


def logical_version(context: dg.AssetExecutionContext) -> dg.DataVersion:
    """Dagster's logical data version (code + inputs), extended with the config hash: the
    version of an output that is not reproducible (random) but fully determined in intent."""
    code_version = context.assets_def.code_versions_by_key[context.asset_key]
    logical = compute_logical_data_version(code_version, current_input_data_versions(context))
    config = config_version(context)
    if config is None:
        return logical
    return dg.DataVersion(hashlib.sha256(f"{logical.value}|{config}".encode()).hexdigest()[:24])


def recorded_config_version(materialization: dg.AssetMaterialization) -> str | None:
    """The config version a materialization recorded (None: the asset had no run config)."""
    recorded = materialization.metadata.get(CONFIG_METADATA_KEY)
    return recorded.value if isinstance(recorded, dg.TextMetadataValue) else None


def latest_materialization(context: dg.AssetExecutionContext) -> dg.AssetMaterialization | None:
    partition = context.partition_key if context.has_partition_key else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=context.asset_key,
            asset_partitions=[partition] if partition is not None else None,
        ),
        limit=1,
    ).records
    return records[0].asset_materialization if records else None


def decide(context: dg.AssetExecutionContext) -> Decision:
    """Compute or skip, and why (the reason is logged and stored as metadata)."""
    if is_forced(context):
        return Decision(True, f"forced by run tag {FORCE_TAG}")
    previous = latest_materialization(context)
    if previous is None:
        return Decision(True, "never materialized")
    tags = dict(previous.tags or {})
    code_version = context.assets_def.code_versions_by_key.get(context.asset_key)
    if tags.get(CODE_VERSION_TAG) != code_version:
        return Decision(True, f"code version changed: {tags.get(CODE_VERSION_TAG)} -> {code_version}")
    if recorded_config_version(previous) != config_version(context):
        return Decision(True, "run config changed")
    current_inputs = {
        get_input_data_version_tag(key): version.value for key, version in current_input_data_versions(context).items()
    }
    previous_inputs = {k: v for k, v in tags.items() if k.startswith(INPUT_VERSION_PREFIX)}
    changed = sorted(
        tag.removeprefix(INPUT_VERSION_PREFIX)
        for tag in current_inputs.keys() | previous_inputs.keys()
        if current_inputs.get(tag) != previous_inputs.get(tag)
    )
    if changed:
        return Decision(True, "upstream data version changed: " + ", ".join(changed))
    return Decision(False, "unchanged: same code version, config and upstream data versions")
