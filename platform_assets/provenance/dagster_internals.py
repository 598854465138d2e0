"""Every Dagster internal the platform relies on, in this one module.

Dagster 1.13's public API covers most of what the platform needs (`fetch_materializations`,
`context.op_config`, `assets_def.get_asset_spec(key).code_version`,
`DefaultRunLauncher`, `open_pipes_session` ...). What it does not export is imported, or
reached through an attribute, here and nowhere else: an upgrade that moves one of these
breaks in one place, loudly, in `tests/provenance/test_dagster_internals.py` (which
exercises each name below and checks that no other product module imports `dagster._`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg

# provenance tag names and Dagster's logical data version (not re-exported)
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    DEFAULT_DATA_VERSION,
    compute_logical_data_version,
    get_input_data_version_tag,
)
from dagster._core.definitions.external_asset import create_external_asset_from_source_asset
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES
from dagster._utils.error import SerializableErrorInfo

__all__ = [
    "BACKFILL_ID_TAG",
    "CODE_VERSION_TAG",
    "DATA_VERSION_TAG",
    "DEFAULT_DATA_VERSION",
    "NOT_FINISHED_STATUSES",
    "CheckRunHealthResult",
    "SerializableErrorInfo",
    "WorkerStatus",
    "compute_function",
    "compute_logical_data_version",
    "get_input_data_version_tag",
    "input_data_version",
    "latest_check_evaluation",
    "resolved_op_config",
    "step_asset_graph",
    "observable_source_with",
    "observe_function",
]

BACKFILL_ID_TAG = "dagster/backfill"  # run tag of every run a backfill launches


def observable_source_with(source: dg.SourceAsset, **spec_attributes: Any) -> dg.AssetsDefinition:
    """An observable source asset as the assets definition Dagster turns it into, with spec
    attributes `observable_source_asset` does not take (`owners`, `kinds`). Observing it is
    unchanged: one run returns the data versions of every partition."""
    assets_def = create_external_asset_from_source_asset(source)
    return assets_def.map_asset_specs(lambda spec: spec.replace_attributes(**spec_attributes))


def observe_function(assets_def: dg.AssetsDefinition) -> Callable[..., Any] | None:
    """The function an observable source (e.g. from `observable_source_with`) observes with."""
    wrapper = compute_function(assets_def) if assets_def.is_observable else None
    cells = dict(zip(wrapper.__code__.co_freevars, wrapper.__closure__ or (), strict=False)) if wrapper else {}
    return cells["observe_fn"].cell_contents if "observe_fn" in cells else None


def input_data_version(context: dg.AssetExecutionContext, key: dg.AssetKey) -> dg.DataVersion:
    """The data version of upstream `key` exactly as Dagster will record it for this step
    (`dagster/input_data_version/<key>`), from the step's own version cache."""
    step = context.get_step_execution_context()
    info = step.maybe_fetch_and_get_input_asset_version_info(key)
    return (info.data_version if info else None) or DEFAULT_DATA_VERSION


def step_asset_graph(context: dg.AssetExecutionContext) -> Any:
    """The asset graph of the step's job (assets, their parents/children, check specs)."""
    return context.get_step_execution_context().job_def.asset_layer.asset_graph


def resolved_op_config(context: dg.AssetExecutionContext, node_name: str) -> Any:
    """The resolved run config (defaults applied) of another node of this run."""
    op_config = context.get_step_execution_context().resolved_run_config.ops.get(node_name)
    return op_config.config if op_config is not None else None


def compute_function(assets_def: dg.AssetsDefinition) -> Callable[..., Any] | None:
    """The function the asset's op was decorated with (for `versioned_asset`, its wrapper)."""
    compute_fn = getattr(assets_def.op, "compute_fn", None) if assets_def.is_executable else None
    return getattr(compute_fn, "decorated_fn", None)


def latest_check_evaluation(
    instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, partition: str | None
) -> tuple[dg.AssetCheckEvaluation, str] | None:
    """The latest *completed* evaluation of a check (for one partition) and its run id."""
    records = instance.event_log_storage.get_asset_check_execution_history(
        check_key,
        limit=1,
        status={AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED},
        partition_filter=PartitionKeyFilter(key=partition) if partition is not None else None,
    )
    if not records or records[0].event is None or records[0].event.dagster_event is None:
        return None
    evaluation = records[0].event.dagster_event.event_specific_data
    if not isinstance(evaluation, dg.AssetCheckEvaluation):
        return None
    return evaluation, records[0].run_id


def run_asset_selection(context: dg.AssetExecutionContext) -> frozenset[dg.AssetKey]:
    """The assets this run materializes."""
    selection = context.run.asset_selection
    if not selection:  # None or empty (`dg.materialize`): every asset of the job
        selection = context.get_step_execution_context().job_def.asset_layer.selected_asset_keys
    return frozenset(selection)


def run_check_selection(context: dg.AssetExecutionContext) -> frozenset[dg.AssetCheckKey]:
    """The asset checks this run executes."""
    selection = context.run.asset_check_selection
    if not selection:
        assets = run_asset_selection(context)
        selection = {key for key in step_asset_graph(context).asset_check_keys if key.asset_key in assets}
    return frozenset(selection)


def node_name_of(context: dg.AssetExecutionContext, key: dg.AssetKey | dg.AssetCheckKey) -> str:
    """The name of the op that materializes an asset or executes a check in this job."""
    layer = context.get_step_execution_context().job_def.asset_layer
    return layer.get_op_output_handle(key).node_handle.name
