"""Load the code location the way a pod does and print what the deployment tests need (JSON).

Run in a subprocess with the environment a pod would get from helm/platform-code-location
(ConfigMap + secret env), so the test sees the op tags and executor of `PLATFORM_ENV=k8s`,
with image references resolved from PLATFORM_IMAGE_<NAME> exactly as in the cluster.
Without arguments it reports `platform_assets.definitions:defs`; `module:attribute` picks another.
"""

from __future__ import annotations

import importlib
import json
import sys

import dagster as dg

K8S_CONFIG_TAG = "dagster-k8s/config"


def _tag_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def report(defs: dg.Definitions) -> dict:
    repo = defs.get_repository_def()
    job = repo.get_implicit_global_asset_job_def()
    steps = []
    seen = set()
    nodes = [*repo.assets_defs_by_key.values(), *repo.asset_checks_defs_by_key.values()]
    for node in nodes:
        if id(node) in seen or not node.is_executable:
            continue
        seen.add(id(node))
        tags = {k: _tag_text(v) for k, v in (node.node_def.tags or {}).items()}
        steps.append(
            {
                "op": node.node_def.name,
                "keys": sorted(k.to_user_string() for k in node.keys)
                + sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in node.check_keys),
                "tags": tags,
            }
        )
    return {"executor": job.executor_def.name, "steps": sorted(steps, key=lambda s: s["op"])}


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "platform_assets.definitions:defs"
    module_name, attribute = target.split(":")
    defs = getattr(importlib.import_module(module_name), attribute)
    print(json.dumps(report(defs)))


if __name__ == "__main__":
    main()
