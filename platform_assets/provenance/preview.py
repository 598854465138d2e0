"""Preview what would recompute, and why, without running anything.

    python -m platform_assets.provenance.preview [--asset nlp/goal_similarity_groups]
        [--all] [--json] [--definitions platform_assets.definitions:defs]

For every versioned asset (every partition of a partitioned one), the decision its step
would take if "Materialize all" ran now against the instance (`$DAGSTER_HOME`): the code
version from the loaded definitions, the run config's defaults, the recorded provenance
of the latest materialization, the current upstream data versions (an upstream that would
itself recompute counts as changed), and whether the recorded output still exists. The
reasons are the ones a run would record in `platform/reason`. Only what would recompute is
listed unless `--all`; the exit status is 0 either way.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import dagster as dg

from platform_assets.provenance.predict import RunView, predict
from platform_assets.provenance.spec import provenance_of


@dataclass(frozen=True)
class Preview:
    asset: str
    partition: str | None
    recompute: bool
    reason: str


def _partitions(instance: dg.DagsterInstance, partitions_def: dg.PartitionsDefinition | None) -> list[str | None]:
    if partitions_def is None:
        return [None]
    return list(partitions_def.get_partition_keys(dynamic_partitions_store=instance))


def preview(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resources: object = None,
    assets: set[dg.AssetKey] | None = None,
) -> Iterator[Preview]:
    """Predicted decisions for the versioned assets of `defs` (or those in `assets`)."""
    graph = defs.resolve_asset_graph()
    versioned = sorted(
        (key for key in graph.get_all_asset_keys() if provenance_of(graph.get(key).assets_def) is not None),
        key=lambda k: k.to_user_string(),
    )
    view = RunView(instance=instance, asset_graph=graph, selection=frozenset(versioned), resources=resources)
    for key in versioned:
        if assets is not None and key not in assets:
            continue
        for partition in _partitions(instance, graph.get(key).partitions_def):
            decision = predict(view, key, partition)
            yield Preview(key.to_user_string(), partition, decision.compute, decision.reason)


def load_definitions(reference: str) -> dg.Definitions:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute or "defs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m platform_assets.provenance.preview",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--asset", action="append", help="asset key (a/b); repeatable; default: every asset")
    parser.add_argument("--all", action="store_true", help="also list what would be skipped")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--definitions", default="platform_assets.definitions:defs", help="module:attribute")
    args = parser.parse_args(argv)
    defs = load_definitions(args.definitions)
    selected = {dg.AssetKey.from_user_string(a) for a in args.asset} if args.asset else None
    counts = {True: 0, False: 0}
    with dg.DagsterInstance.get() as instance, dg.build_resources(defs.resources or {}) as resources:
        for item in preview(defs, instance, resources, selected):
            counts[item.recompute] += 1
            if not (item.recompute or args.all):
                continue
            if args.json:
                print(json.dumps(asdict(item)))
            else:
                where = f"[{item.partition}]" if item.partition is not None else ""
                print(f"{'RECOMPUTE' if item.recompute else 'skip     '}  {item.asset}{where}: {item.reason}")
    print(f"{counts[True]} would recompute, {counts[False]} unchanged", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
