"""Load the code location the way a pod does and print what the deployment tests need (JSON).

Run in a subprocess with the environment a pod would get from helm/platform-code-location
(ConfigMap + secret env), so the test sees the op tags and executor (with its config) of
`PLATFORM_ENV=k8s`, with image references resolved from PLATFORM_IMAGE_<NAME> exactly as in the
cluster, and the pod body `PipesK8sClient` would create for every command asset (the asset
really runs; the API call that would create the pod is intercepted).
Without arguments it reports `platform_assets.definitions:defs`; `module:attribute` picks another.
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

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
    executor = job.executor_def
    resolve = getattr(executor.config_schema, "resolve_config", None)  # only a configured executor has one
    resolved = resolve({}) if resolve else None
    return {
        "executor": executor.name,
        "executor_config": (resolved.value or {}).get("config", {}) if resolved and resolved.success else {},
        "steps": sorted(steps, key=lambda s: s["op"]),
    }


class _PodCreated(Exception):
    """Raised instead of creating the pod: the body is all we want."""


def program_pods(defs: dg.Definitions) -> dict[str, dict]:
    """Asset key -> the pod body `PipesK8sClient.run` sends to the API server for every
    command asset (kind `pipes`), captured at `create_namespaced_pod`."""
    import kubernetes
    from dagster_k8s import PipesK8sClient
    from dagster_k8s.client import DagsterKubernetesClient

    from resources.settings import settings
    from resources.shared.blob import BlobStorage
    from tests.deploy.k8s_jobs import write_dummy_kubeconfig

    bodies: dict[str, dict] = {}

    def create_namespaced_pod(namespace, body):
        bodies["current"] = kubernetes.client.ApiClient().sanitize_for_serialization(body)
        raise _PodCreated

    fake = SimpleNamespace(core_api=SimpleNamespace(create_namespaced_pod=create_namespaced_pod))
    DagsterKubernetesClient.production_client = classmethod(lambda cls, **kwargs: fake)  # type: ignore[method-assign,assignment]
    kubeconfig = write_dummy_kubeconfig(Path(tempfile.mkdtemp()) / "config")
    client = PipesK8sClient(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    pods = {}
    for assets_def in defs.assets or ():
        if not isinstance(assets_def, dg.AssetsDefinition) or not assets_def.is_executable:
            continue
        if not any("pipes" in spec.kinds for spec in assets_def.specs):
            continue
        with dg.instance_for_test() as instance:
            partition = None
            partitions = assets_def.partitions_def
            if isinstance(partitions, dg.DynamicPartitionsDefinition):
                instance.add_dynamic_partitions(str(partitions.name), ["case-1"])
                partition = "case-1"
            elif partitions is not None:
                partition = partitions.get_partition_keys()[0]
            bodies.pop("current", None)
            dg.materialize(
                [assets_def],
                instance=instance,
                partition_key=partition,
                resources={"pipes": client, "blob": BlobStorage(url=settings().blob_url)},
                raise_on_error=False,
            )
            if "current" not in bodies:
                raise RuntimeError(f"{assets_def.key.to_user_string()} created no pod")
            pods[assets_def.key.to_user_string()] = bodies["current"]
    return pods


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "platform_assets.definitions:defs"
    module_name, attribute = target.split(":")
    defs = getattr(importlib.import_module(module_name), attribute)
    print(json.dumps({**report(defs), "program_pods": program_pods(defs)}))


if __name__ == "__main__":
    main()
