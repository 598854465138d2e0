"""Skip when unchanged: compare what an asset would be computed from with the provenance
recorded on its latest materialization.

Dagster writes, on every materialization, the code version (`dagster/code_version`) and
the data version of each upstream asset it read (`dagster/input_data_version/<key>`).
Before computing, the step asks for the *current* upstream data versions exactly the way
Dagster will record them, so "equal" here means "the new materialization would carry the
same provenance as the last one". Run configuration is provenance too (a different `dt`
is a different result): its hash is recorded as `platform/config_version` and compared the
same way. And the output must still be there: an asset that says how to check
(`output_missing=`) is recomputed when its recorded output is gone.

`decide` is one pure function, used in the step and, with versions looked up from the
instance, by the preview and by the hand-on to children in the same run.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from platform_assets.provenance.dagster_internals import (
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    DEFAULT_DATA_VERSION,
    compute_logical_data_version,
    get_input_data_version_tag,
    input_data_version,
)
from platform_assets.provenance.spec import AssetProvenance, config_version_of

FORCE_TAG = "platform/force"
FORCED_METADATA_KEY = "platform/forced"
REASON_METADATA_KEY = "platform/reason"
CONFIG_METADATA_KEY = "platform/config_version"
RERECORDED_METADATA_KEY = "platform/rerecorded"
# definition metadata: run-config fields that change how, not what, an asset computes
EXECUTION_ONLY_CONFIG_KEY = "platform/execution_only_config"
INPUT_VERSION_PREFIX = get_input_data_version_tag(dg.AssetKey("_"))[: -len("_")]

_current_config: contextvars.ContextVar[tuple[Any, frozenset[str]] | None] = contextvars.ContextVar(
    "platform_current_config", default=None
)


@dataclass(frozen=True)
class Decision:
    compute: bool
    reason: str


def is_forced(tags: Mapping[str, str]) -> bool:
    return str(tags.get(FORCE_TAG, "")).lower() in {"1", "true", "yes"}


@contextlib.contextmanager
def current_config(config: Any, execution_only: frozenset[str]) -> Iterator[None]:
    """While an asset function runs: the run-config object it received."""
    token = _current_config.set((config, execution_only))
    try:
        yield
    finally:
        _current_config.reset(token)


def execution_only_config(context: dg.AssetExecutionContext) -> set[str]:
    metadata = context.assets_def.metadata_by_key.get(context.asset_key, {})
    declared = metadata.get(EXECUTION_ONLY_CONFIG_KEY)
    return set(getattr(declared, "value", declared) or ())


def config_version(context: dg.AssetExecutionContext) -> str | None:
    """Hash of the step's run config without its execution-only fields (e.g. whether to
    use Dask), or None for assets without run config: the value recorded as
    `platform/config_version`. Inside a `versioned_asset` it is the hash of the config
    object the function received (defaults and default factories included)."""
    current = _current_config.get()
    if current is not None and current[0] is not None:
        return config_version_of(current[0], current[1])
    return config_version_of(context.op_execution_context.op_config, execution_only_config(context))


def recorded_config_version(materialization: dg.AssetMaterialization) -> str | None:
    """The config version a materialization recorded (None: the asset had no run config)."""
    recorded = materialization.metadata.get(CONFIG_METADATA_KEY)
    return recorded.value if isinstance(recorded, dg.TextMetadataValue) else None


def recorded_input_versions(materialization: dg.AssetMaterialization) -> dict[str, str]:
    """upstream key (user string) -> data version the materialization was computed from."""
    return {
        tag.removeprefix(INPUT_VERSION_PREFIX): value
        for tag, value in (materialization.tags or {}).items()
        if tag.startswith(INPUT_VERSION_PREFIX)
    }


def recorded_data_version(materialization: dg.AssetMaterialization) -> str | None:
    return (materialization.tags or {}).get(DATA_VERSION_TAG)


def latest_record(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None) -> dg.EventLogRecord | None:
    """The latest materialization record of an asset (partition)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition is not None else None),
        limit=1,
    ).records
    return records[0] if records else None


def current_data_version(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None) -> str:
    """The data version Dagster would record for `key` as an input now (latest
    materialization or observation; `INITIAL` when there is none)."""
    record = instance.get_latest_data_version_record(key, None, partition)
    entry = record.event_log_entry if record else None
    event = (entry.asset_materialization or entry.asset_observation) if entry else None
    version = (event.tags or {}).get(DATA_VERSION_TAG) if event else None
    return version or DEFAULT_DATA_VERSION.value


def decide(
    previous: dg.AssetMaterialization | None,
    *,
    code_version: str | None,
    config_version: str | None,
    input_versions: Mapping[str, str | None],
    forced: bool = False,
    output_missing: Callable[[dg.AssetMaterialization], str | None] | None = None,
) -> Decision:
    """Compute or skip, and why. `input_versions`: upstream key -> current data version
    (None: not knowable yet, e.g. an upstream recomputed in the same run)."""
    if forced:
        return Decision(True, f"forced by run tag {FORCE_TAG}")
    if previous is None:
        return Decision(True, "never materialized")
    recorded_code = (previous.tags or {}).get(CODE_VERSION_TAG)
    if recorded_code != code_version:
        return Decision(True, f"code version changed: {recorded_code} -> {code_version}")
    if recorded_config_version(previous) != config_version:
        return Decision(True, "run config changed")
    recorded_inputs = recorded_input_versions(previous)
    unknown = sorted(k for k, v in input_versions.items() if v is None)
    if unknown:
        return Decision(True, "upstream recomputed in this run: " + ", ".join(unknown))
    changed = sorted(
        key
        for key in recorded_inputs.keys() | input_versions.keys()
        if recorded_inputs.get(key) != input_versions.get(key)
    )
    if changed:
        return Decision(True, "upstream data version changed: " + ", ".join(changed))
    missing = output_missing(previous) if output_missing is not None else None
    if missing:
        return Decision(True, f"recorded output missing: {missing}")
    return Decision(False, "unchanged: same code version, config and upstream data versions")


def step_input_versions(context: dg.AssetExecutionContext) -> dict[dg.AssetKey, dg.DataVersion]:
    """upstream key -> data version, as Dagster will record them for this step."""
    return {parent: input_data_version(context, parent) for parent in context.assets_def.asset_deps[context.asset_key]}


def logical_version(context: dg.AssetExecutionContext) -> dg.DataVersion:
    """Dagster's logical data version (code + inputs), extended with the config hash: the
    version of an output that is not reproducible (random) but fully determined in intent."""
    code_version = context.assets_def.get_asset_spec(context.asset_key).code_version
    logical = compute_logical_data_version(code_version, step_input_versions(context))
    config = config_version(context)
    if config is None:
        return logical
    return dg.DataVersion(hashlib.sha256(f"{logical.value}|{config}".encode()).hexdigest()[:24])


def decide_step(
    context: dg.AssetExecutionContext, spec: AssetProvenance, previous: dg.AssetMaterialization | None
) -> Decision:
    """The decision for this step (one partition, or an unpartitioned asset)."""

    def output_missing(materialization: dg.AssetMaterialization) -> str | None:
        return spec.output_missing(context.resources, materialization) if spec.output_missing else None

    return decide(
        previous,
        code_version=context.assets_def.get_asset_spec(context.asset_key).code_version,
        config_version=config_version(context),
        input_versions={k.to_user_string(): v.value for k, v in step_input_versions(context).items()},
        forced=is_forced(context.run.tags),
        output_missing=output_missing,
    )
