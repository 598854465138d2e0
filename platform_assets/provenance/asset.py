"""`versioned_asset`: `dg.asset` with an automatic code version and skip-when-unchanged.

Every asset of every family is declared with it, so provenance is one mechanism.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import dagster as dg

from platform_assets.families import family_owners
from platform_assets.provenance.automation import platform_automation_condition
from platform_assets.provenance.code_version import code_version_of, content_digest
from platform_assets.provenance.signature import config_parameter, resolved_signature, resource_keys_of
from platform_assets.provenance.skip import (
    CONFIG_METADATA_KEY,
    EXECUTION_ONLY_CONFIG_KEY,
    FORCED_METADATA_KEY,
    REASON_METADATA_KEY,
    config_version,
    current_config,
    decide_step,
    latest_record,
    logical_version,
)
from platform_assets.provenance.spec import ATTRIBUTE, AssetProvenance, OutputMissing
from resources.shared.images import image_ref, k8s_op_tags


def content_version(*chunks: bytes | str) -> dg.DataVersion:
    """A data version for deterministic outputs: the hash of their content."""
    return dg.DataVersion(content_digest(*chunks)[:24])


def _as_events(result: Any, config_data_version: dg.DataVersion | None):
    """Normalize what an asset function returned into events Dagster accepts from a
    generator (a plain value becomes an `Output`, `None` a bare `MaterializeResult`).

    With run config, an output that brings no data version of its own gets the logical
    version extended by the config hash, so a config change reaches downstream."""
    if inspect.isgenerator(result):
        yield from result
        return
    if result is None:
        result = dg.MaterializeResult()
    elif type(result) is not tuple and not isinstance(result, (dg.Output, dg.MaterializeResult, dg.AssetCheckResult)):
        result = dg.Output(result)
    if config_data_version is not None and getattr(result, "data_version", "n/a") is None:
        if isinstance(result, dg.Output):
            result = dg.Output(result.value, result.output_name, result.metadata, config_data_version, tags=result.tags)
        else:
            result = result._replace(data_version=config_data_version)
    if type(result) is tuple:  # several results (MaterializeResult/AssetCheckResult are namedtuples)
        yield from result
    else:
        yield result


def versioned_asset(
    *,
    image: str | None = None,
    k8s_resources: Mapping[str, str] | None = None,
    externals: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
    packages: Iterable[str] = (),
    execution_only_config: Iterable[str] = (),
    decides_per_partition: bool = False,
    output_missing: OutputMissing | None = None,
    **asset_kwargs: Any,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """Declare an asset whose code version is computed, never written by hand.

    `image` names the slim image the asset runs in (k8s op tags; its digest is part of the
    code version); `externals` are other declared dependencies (program version, static
    config); `packages` are distributions whose installed version matters beyond those its
    code imports (found automatically). `execution_only_config` names run-config fields that
    change how, not what, the asset computes (e.g. `use_dask`): they are left out of its
    provenance. `output_missing(resources, materialization) -> str | None` says whether the
    recorded output still exists (None) or what is gone: a lost output is recomputed.
    `decides_per_partition=True`: the function decides per partition itself with
    `partition_decisions` (runs over many partitions); no step-level skip.
    Other keyword arguments go to `dg.asset` unchanged.
    """
    if "code_version" in asset_kwargs:
        raise TypeError("versioned_asset computes code_version; do not pass one")

    def decorator(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        params = list(inspect.signature(fn).parameters)
        if not params or params[0] != "context":
            raise TypeError(f"{fn.__qualname__}: the first parameter must be `context`")
        declared = dict(externals() if callable(externals) else (externals or {}))
        if image is not None:
            declared["image"] = image_ref(image)
        resource_keys = frozenset(resource_keys_of(fn, asset_kwargs))
        hooks = {"output_missing": output_missing} if output_missing is not None else {}
        config = config_parameter(fn)
        spec = AssetProvenance(
            fn=fn,
            code_version=code_version_of(
                fn, externals=declared, packages=packages, resource_keys=resource_keys, values=hooks
            ),
            externals=declared,
            packages=tuple(packages),
            resource_keys=resource_keys,
            config_param=config[0] if config else None,
            config_class=config[1] if config else None,
            execution_only_config=frozenset(execution_only_config),
            output_missing=output_missing,
            decides_per_partition=decides_per_partition,
        )

        @functools.wraps(fn)
        def compute(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any):
            run_config = kwargs.get(spec.config_param) if spec.config_param else None
            with current_config(run_config, spec.execution_only_config):
                yield from _compute(spec, context, args, kwargs)

        compute.__signature__ = resolved_signature(fn)  # type: ignore[attr-defined]  # read by Dagster
        setattr(compute, ATTRIBUTE, spec)
        op_tags = dict(asset_kwargs.pop("op_tags", None) or {})
        if image is not None:
            op_tags.update(
                k8s_op_tags(image, k8s_resources, key=asset_kwargs.get("key"), base=op_tags.get("dagster-k8s/config"))
            )
        asset_kwargs.setdefault("automation_condition", platform_automation_condition())
        if "key" in asset_kwargs:
            asset_kwargs.setdefault("owners", family_owners(asset_kwargs["key"]))
        if execution_only_config:
            asset_kwargs["metadata"] = {
                **(asset_kwargs.get("metadata") or {}),
                EXECUTION_ONLY_CONFIG_KEY: sorted(execution_only_config),
            }
        return dg.asset(
            code_version=spec.code_version,
            output_required=False,
            op_tags=op_tags or None,
            **asset_kwargs,
        )(compute)

    return decorator


def _compute(spec: AssetProvenance, context: dg.AssetExecutionContext, args: tuple, kwargs: dict):
    """The step: decide, then compute, or hand on what the run needs and record nothing."""
    fn = spec.fn
    if spec.decides_per_partition:
        yield from _as_events(fn(context, *args, **kwargs), None)
        return
    partition = context.partition_key if context.has_partition_key else None
    previous = latest_record(context.instance, context.asset_key, partition)
    decision = decide_step(context, spec, previous.asset_materialization if previous else None)
    name = context.asset_key.to_user_string()
    if not decision.compute:
        from platform_assets.provenance.handoff import unchanged_step_events  # run time only

        assert previous is not None
        context.log.info(f"Skipped {name}: {decision.reason}")
        yield from unchanged_step_events(context, previous)
        return
    context.log.info(f"Computing {name}: {decision.reason}")
    metadata = {
        REASON_METADATA_KEY: decision.reason,
        FORCED_METADATA_KEY: decision.reason.startswith("forced"),
    }
    config = config_version(context)
    if config is not None:
        metadata[CONFIG_METADATA_KEY] = config
    context.add_asset_metadata(metadata)
    versioned_by_config = logical_version(context) if config is not None else None
    yield from _as_events(fn(context, *args, **kwargs), versioned_by_config)
