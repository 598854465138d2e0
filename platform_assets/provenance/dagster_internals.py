"""Every Dagster internal the platform relies on, in this one module.

Dagster 1.13's public API covers most of what the platform needs (`fetch_materializations`,
`context.op_execution_context.op_config`, `assets_def.get_asset_spec(key).code_version`,
`DefaultRunLauncher`, `open_pipes_session` ...). What it does not export is imported, or
reached through an attribute, here and nowhere else: an upgrade that moves one of these
breaks in one place, loudly, in `tests/provenance/test_dagster_internals.py` (which
exercises each name below and checks that no other product module imports `dagster._`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
from dagster._core.events import DagsterEvent, DagsterEventBatchMetadata, generate_event_batch_id
from dagster._core.execution.plan.objects import StepFailureData
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES

# the partition range a run covers (run tags; what a multi-partition RunRequest sets)
# tags Dagster sets on runs: the partition of a single-partition run, the sensor and run key
# that requested it, whether run retries will retry a failed run
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    RUN_KEY_TAG,
    SENSOR_NAME_TAG,
    WILL_RETRY_TAG,
)
from dagster._core.utils import make_new_backfill_id
from dagster._utils.error import SerializableErrorInfo

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "BACKFILL_ID_TAG",
    "CODE_VERSION_TAG",
    "DATA_VERSION_TAG",
    "DEFAULT_DATA_VERSION",
    "NOT_FINISHED_STATUSES",
    "PARTITION_NAME_TAG",
    "RUN_KEY_TAG",
    "SENSOR_NAME_TAG",
    "WILL_RETRY_TAG",
    "CheckRunHealthResult",
    "SerializableErrorInfo",
    "StepFailureData",
    "WorkerStatus",
    "compute_function",
    "compute_logical_data_version",
    "get_input_data_version_tag",
    "input_data_version",
    "latest_check_evaluation",
    "log_materializations_as_batch",
    "submit_asset_backfill",
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


def log_materializations_as_batch(
    context: dg.AssetExecutionContext, materializations: Sequence[dg.AssetMaterialization]
) -> None:
    """Log the materializations of many partitions as one event batch, exactly as Dagster
    logs the per-partition materializations of an output over a partition range (same
    event, same step). Where the instance has event batches on (the platform's does),
    Dagster stores a batch in one insert; otherwise one by one, as if yielded."""
    step = context.get_step_execution_context()
    batch_id = generate_event_batch_id()
    for i, materialization in enumerate(materializations):
        DagsterEvent.asset_materialization(
            step, materialization, DagsterEventBatchMetadata(batch_id, i == len(materializations) - 1)
        )


def submit_asset_backfill(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    asset_key: dg.AssetKey,
    partitions: Sequence[str] | None,
    tags: dict[str, str],
    title: str,
    description: str,
) -> str:
    """Submit an asset backfill of ``asset_key`` over ``partitions`` (all when ``None``),
    as the UI's *Materialize -> partitions* does: the backfill daemon runs it in chunks
    of the asset's backfill policy. Returns the backfill id."""
    # imported here, not at module level: it pulls in Dagster's backfill daemon code
    # (~90 ms), which loading the code location never needs
    from dagster._core.execution.backfill import PartitionBackfill

    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(),
        asset_graph=defs.resolve_asset_graph(),
        partition_names=list(partitions) if partitions else None,
        asset_selection=[asset_key],
        backfill_timestamp=time.time(),
        tags=tags,
        dynamic_partitions_store=instance,
        all_partitions=not partitions,
        title=title,
        description=description,
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill.backfill_id
