"""Would an asset (partition) recompute, and why, without running it.

The same `skip.decide` the step uses, fed with what is knowable from outside the step:
the code version and run config from the definitions, the recorded provenance of its
latest materialization, the current data versions of its upstreams from the instance,
and, for upstreams that would themselves recompute in the same run, "not knowable yet"
(which counts as a change). Used by a skipped step to tell whether a selected child in its
run needs it (`handoff.py`) and by the preview (`preview.py`).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from platform_assets.provenance.skip import Decision, current_data_version, decide, latest_record
from platform_assets.provenance.spec import provenance_of

AssetPartition = tuple[dg.AssetKey, str | None]


@dataclass
class RunView:
    """What predictions need to know about a (real or hypothetical) run.

    `selection`: assets the run materializes; `op_config(assets_def)`: the resolved run
    config of an asset's op (None: its defaults); `resources`: resources by key for the
    output checks (None: not checked); `known_versions`: data versions already settled in
    this run (a skipped step's own, unchanged version)."""

    instance: dg.DagsterInstance
    asset_graph: Any
    selection: frozenset[dg.AssetKey]
    forced: bool = False
    op_config: Callable[[dg.AssetsDefinition], Any] = lambda assets_def: None
    resources: Any = None
    known_versions: dict[AssetPartition, str] = field(default_factory=dict)
    _memo: dict[AssetPartition, Decision] = field(default_factory=dict)


def _parent_partition(asset_graph: Any, parent: dg.AssetKey, child: dg.AssetKey, partition: str | None) -> Any:
    """The parent partition a child partition reads: the same key when both share the
    partitioning, None for an unpartitioned parent, `...` when not predicted here."""
    parent_partitions = asset_graph.get(parent).partitions_def
    if parent_partitions is None:
        return None
    if parent_partitions == asset_graph.get(child).partitions_def:
        return partition
    return ...


def predict(view: RunView, key: dg.AssetKey, partition: str | None) -> Decision:
    """Whether `key` (`partition`) would recompute in the run `view` describes."""
    memo_key = (key, partition)
    if memo_key not in view._memo:
        view._memo[memo_key] = Decision(True, "cycle")  # graphs are acyclic; defensive
        view._memo[memo_key] = _predict(view, key, partition)
    return view._memo[memo_key]


def _predict(view: RunView, key: dg.AssetKey, partition: str | None) -> Decision:
    node = view.asset_graph.get(key)
    assets_def: dg.AssetsDefinition = node.assets_def
    spec = provenance_of(assets_def)
    if spec is None:
        return Decision(True, "not a versioned asset: Dagster runs it whenever it is selected")
    record = latest_record(view.instance, key, partition)
    previous = record.asset_materialization if record else None
    inputs: dict[str, str | None] = {}
    for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string()):
        parent_partition = _parent_partition(view.asset_graph, parent, key, partition)
        if parent_partition is ...:
            return Decision(True, f"reads {parent.to_user_string()} through a partition mapping (not predicted)")
        settled = view.known_versions.get((parent, parent_partition))
        if settled is not None:
            inputs[parent.to_user_string()] = settled
        elif parent in view.selection and predict(view, parent, parent_partition).compute:
            inputs[parent.to_user_string()] = None
        else:
            inputs[parent.to_user_string()] = current_data_version(view.instance, parent, parent_partition)
    config = None
    if spec.config_class is not None:
        config = spec.config_version(spec.config_from_op_config(view.op_config(assets_def)))
    return decide(
        previous,
        code_version=assets_def.get_asset_spec(key).code_version,
        config_version=config,
        input_versions=inputs,
        forced=view.forced,
        output_missing=_output_check(view, spec) if spec.output_missing is not None else None,
    )


def _output_check(view: RunView, spec: Any) -> Callable[[dg.AssetMaterialization], str | None]:
    def output_missing(materialization: dg.AssetMaterialization) -> str | None:
        if view.resources is None:
            return None
        try:
            return spec.output_missing(view.resources, materialization)
        except Exception as error:  # e.g. a resource this view does not have
            return f"could not check ({type(error).__name__}: {error})"

    return output_missing


def resources_view(resources: Mapping[str, Any]) -> Any:
    """Resources by attribute, like `context.resources`."""
    return types.SimpleNamespace(**resources)
