"""Snapshot of the whole asset graph: an accidental change to keys, dependencies,
partitions, automation conditions, op tags, owners, kinds, jobs, sensors or schedules fails
this test. Code versions are not in
it (they move with every helper edit, by design); tests/provenance proves they move
exactly when they should.

After an intended change: `UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/platform` and commit
tests/snapshots/asset_graph.json (the diff is the review)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "asset_graph.json"


def describe_partitions(partitions_def) -> object:
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        return {"dynamic": partitions_def.name}
    if isinstance(partitions_def, dg.StaticPartitionsDefinition):
        return {"static": partitions_def.get_partition_keys()}
    return {type(partitions_def).__name__: str(partitions_def)}


def describe_condition(condition) -> str | None:
    if condition is None:
        return None
    return condition.get_label() or condition.name


def graph_snapshot(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": describe_partitions(node.partitions_def),
            "automation_condition": describe_condition(node.automation_condition),
            "op_tags": json.loads(json.dumps(node.tags if node.is_external else _op_tags(defs, key), default=str)),
            "group": node.group_name,
            "owners": list(node.owners),
            "kinds": sorted(node.kinds),
            "is_observable": node.is_observable,
            "is_materializable": node.is_materializable,
        }
    from platform_assets.definitions import FAMILIES

    return {
        "families": [family.name for family in FAMILIES],
        "assets": assets,
        "asset_checks": sorted(k.to_user_string() for k in graph.asset_check_keys),
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "sensors": sorted(s.name for s in defs.get_repository_def().sensor_defs),
        "schedules": sorted(s.name for s in defs.get_repository_def().schedule_defs),
    }


def _op_tags(defs: dg.Definitions, key: dg.AssetKey) -> dict:
    assets_def = defs.resolve_assets_def(key)
    tags = dict(assets_def.op.tags or {}) if assets_def.is_executable else {}
    for name, value in list(tags.items()):
        if isinstance(value, str) and value.startswith("{"):
            tags[name] = json.loads(value)
    return tags


def test_asset_graph_matches_snapshot():
    from platform_assets.definitions import defs

    current = graph_snapshot(defs)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert SNAPSHOT.exists(), f"no snapshot: run with UPDATE_SNAPSHOTS=1 and commit {SNAPSHOT.name}"
    assert current == json.loads(SNAPSHOT.read_text()), (
        "the asset graph changed; if intended: UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/platform "
        "and commit tests/snapshots/asset_graph.json"
    )


def test_every_asset_key_is_prefixed_by_its_family():
    from platform_assets.definitions import FAMILIES, defs

    names = {family.name for family in FAMILIES}
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        assert key.path[0] in names, f"{key.to_user_string()} is not under a family prefix"


def test_every_materializable_asset_has_an_automatic_code_version_and_an_image():
    from platform_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        assert node.code_version and len(node.code_version) == 24, key
        config = _op_tags(defs, key).get("dagster-k8s/config", {})
        assert config.get("container_config", {}).get("image"), f"{key.to_user_string()} declares no image"
