"""Asset checks whose result can be reused when their asset did not change.

Dagster skips a check step whose asset step yielded no output, and the catalog then reads
"Skipped" instead of the check's result. A check declared with `versioned_check` records
its code version and config version on every result. When the asset is unchanged, its
step re-emits the check's latest result in the current run (same verdict, severity and
metadata, `platform/reused_from_run` added) if that result was computed against the
current materialization by the same check code and config; otherwise the asset hands its
output on so the check runs again (see `handoff.py`).

    @versioned_check(asset=posterior, partitions_def=kalman_cases, blocking=True)
    def posterior_is_finite(context: dg.AssetCheckExecutionContext, blob: BlobStorage):
        ...

Same arguments as `dg.asset_check`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import dagster as dg

from platform_assets.provenance.code_version import closure_names, code_version_of
from platform_assets.provenance.dagster_internals import (
    compute_function,
    latest_check_evaluation,
    node_name_of,
    resolved_op_config,
    step_asset_graph,
)
from platform_assets.provenance.signature import resolved_signature, resource_keys_of
from platform_assets.provenance.spec import ATTRIBUTE, config_version_of

CHECK_CODE_VERSION_KEY = "platform/check_code_version"
CHECK_CONFIG_VERSION_KEY = "platform/check_config_version"
REUSED_FROM_RUN_KEY = "platform/reused_from_run"


@dataclass(frozen=True, eq=False)
class CheckProvenance:
    fn: Callable[..., Any]
    code_version: str
    resource_keys: frozenset[str]

    @cached_property
    def closure(self) -> frozenset[str]:
        return closure_names(self.fn, resource_keys=self.resource_keys)


def versioned_check(**check_kwargs: Any) -> Callable[[Callable[..., Any]], dg.AssetChecksDefinition]:
    """`dg.asset_check` whose results can be reused after a no-op (module docstring)."""

    def decorator(fn: Callable[..., Any]) -> dg.AssetChecksDefinition:
        keys = resource_keys_of(fn, check_kwargs)
        version = code_version_of(fn, resource_keys=keys)

        @functools.wraps(fn)
        def check(context: dg.AssetCheckExecutionContext, *args: Any, **kwargs: Any) -> Any:
            result = fn(context, *args, **kwargs)
            stamp: dict[str, Any] = {
                CHECK_CODE_VERSION_KEY: version,
                CHECK_CONFIG_VERSION_KEY: config_version_of(context.op_execution_context.op_config) or "",
            }
            if isinstance(result, dg.AssetCheckResult):
                return result._replace(metadata={**(result.metadata or {}), **stamp})
            return result

        check.__signature__ = resolved_signature(fn)  # type: ignore[attr-defined]  # read by Dagster
        setattr(check, ATTRIBUTE, CheckProvenance(fn, version, frozenset(keys)))
        metadata = {**(check_kwargs.pop("metadata", None) or {}), CHECK_CODE_VERSION_KEY: version}
        return dg.asset_check(metadata=metadata, **check_kwargs)(check)

    return decorator


def check_provenance_of(checks_def: dg.AssetsDefinition) -> CheckProvenance | None:
    return getattr(compute_function(checks_def), ATTRIBUTE, None)


def reusable_evaluation(
    context: dg.AssetExecutionContext, check_key: dg.AssetCheckKey, materialization_storage_id: int
) -> tuple[dg.AssetCheckEvaluation | None, str]:
    """The latest evaluation of `check_key`, ready to re-emit in this run, when it is still
    valid for the asset's current materialization; else (None, why it must run)."""
    spec = step_asset_graph(context).get_check_spec(check_key)
    current_version = (spec.metadata or {}).get(CHECK_CODE_VERSION_KEY)
    current_version = getattr(current_version, "value", current_version)
    name = check_key.to_user_string()
    if current_version is None:
        return None, f"check {name} is not a versioned_check"
    partition = context.partition_key if context.has_partition_key else None
    latest = latest_check_evaluation(context.instance, check_key, partition)
    if latest is None:
        return None, f"check {name} has no result yet"
    evaluation, run_id = latest
    target = evaluation.target_materialization_data
    if target is None or target.storage_id != materialization_storage_id:
        return None, f"check {name} last ran against another materialization"
    recorded = {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}
    if recorded.get(CHECK_CODE_VERSION_KEY) != current_version:
        return None, f"check {name} changed"
    config = config_version_of(resolved_op_config(context, node_name_of(context, check_key))) or ""
    if recorded.get(CHECK_CONFIG_VERSION_KEY) != config:
        return None, f"check {name} runs with other config"
    origin = str(recorded.get(REUSED_FROM_RUN_KEY) or run_id)
    reused = dg.AssetCheckEvaluation(
        asset_key=evaluation.asset_key,
        check_name=evaluation.check_name,
        passed=evaluation.passed,
        metadata={**evaluation.metadata, REUSED_FROM_RUN_KEY: dg.MetadataValue.text(origin)},
        target_materialization_data=evaluation.target_materialization_data,
        severity=evaluation.severity,
        description=evaluation.description,
        blocking=evaluation.blocking,
        partition=evaluation.partition,
    )
    return reused, f"check {name} reused from run {origin}"
