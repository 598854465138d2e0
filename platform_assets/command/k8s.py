"""The pod a command asset runs in on Kubernetes (through `PipesK8sClient`).

Three containers share an `emptyDir` at /work and run strictly in order:

1. init `stage-in` (platform base image): copies the declared inputs from blob storage;
2. init `program` (the asset's own image, e.g. the .NET or Python Kalman image): runs the
   command on local files only; its Pipes messages go to a file in /work;
3. `publish` (platform base image): runs only if the program exited 0 (init containers
   are sequential and a failed one fails the pod with restartPolicy Never), publishes the
   declared outputs atomically and relays the program's Pipes messages on its log, where
   `PipesK8sClient` reads them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dagster_pipes import encode_param

from resources.shared.images import image_ref
from resources.shared.pods import (
    CONTAINER_SECURITY_CONTEXT,
    POD_SECURITY_CONTEXT,
    labels,
    program_service_account,
    resources_with_limits,
    shared_secret_env,
)

WORK = "/work"
MESSAGES_FILE = f"{WORK}/pipes/messages.jsonl"
BLOB_ENV = ("PLATFORM_BLOB_URL", "AWS_ENDPOINT_URL", "AWS_REGION")
STAGING_IMAGE = "base"
STAGING_RESOURCES = {"cpu": "250m", "memory": "512Mi"}
PROGRAM_RESOURCES = {"cpu": "500m", "memory": "1Gi"}
WORK_SIZE = "20Gi"  # inputs + outputs of one run
TMP_SIZE = "1Gi"
# The EKS pod identity webhook injects the pod's IAM role into every container unless told
# otherwise: only the staging containers may reach blob storage.
IRSA_SKIP_ANNOTATION = "eks.amazonaws.com/skip-containers"


def _container(name: str, image: str, command: list[str], env: list[dict], tmp: str, resources: Mapping) -> dict:
    """A hardened container: read-only root, no privilege, no capability; writes only to
    /work and its own /tmp; requests and equal limits."""
    return {
        "name": name,
        "image": image_ref(image),
        "command": command,
        "env": env,
        "volume_mounts": [{"name": "work", "mount_path": WORK}, {"name": tmp, "mount_path": "/tmp"}],
        "security_context": dict(CONTAINER_SECURITY_CONTEXT),
        "resources": resources_with_limits(resources),
    }


def _staging_container(name: str, action: str, spec: Mapping, env: Mapping[str, str]) -> dict:
    return _container(
        name,
        STAGING_IMAGE,
        ["python", "-m", "platform_assets.command.staging", action, json.dumps(spec)],
        [{"name": "HOME", "value": "/tmp"}, *({"name": k, "value": v} for k, v in env.items()), *shared_secret_env()],
        "staging-tmp",
        STAGING_RESOURCES,
    )


def command_pod_meta(family: str | None) -> dict:
    """`base_pod_meta` for `PipesK8sClient.run`: labels the NetworkPolicy of program pods
    selects, and no cloud identity for the program container."""
    return {"labels": labels(family, "program"), "annotations": {IRSA_SKIP_ANNOTATION: "program"}}


def command_pod_spec(
    *,
    image: str,
    command: Sequence[str],
    inputs: Mapping[str, str],
    output_prefix: str,
    declared_outputs: Sequence[str],
    blob_env: Mapping[str, str],
    program_env: Mapping[str, str] | None = None,
    resources: Mapping[str, str] | None = None,
) -> dict:
    """`base_pod_spec` for `PipesK8sClient.run` (``command`` already rendered with /work paths).

    Passes PodSecurity "restricted": non-root, seccomp RuntimeDefault, no privilege
    escalation, all capabilities dropped; besides, read-only root filesystems with explicit
    emptyDir volumes, requests and limits on every container, its own service account and no
    service-account token (nothing in the pod calls the Kubernetes API), no service links."""
    program = _container(
        "program",
        image,
        ["sh", "-c", f'mkdir -p {WORK}/out {WORK}/pipes && exec "$@"', "sh", *command],
        [
            {"name": "OUTPUT_PATH", "value": f"{WORK}/out"},
            {"name": "HOME", "value": "/tmp"},
            # Explicit DAGSTER_PIPES_MESSAGES: PipesK8sClient keeps it and adds the context.
            {"name": "DAGSTER_PIPES_MESSAGES", "value": encode_param({"path": MESSAGES_FILE})},
            *({"name": k, "value": v} for k, v in (program_env or {}).items()),
        ],
        "program-tmp",
        resources or PROGRAM_RESOURCES,
    )
    program["working_dir"] = f"{WORK}/in"
    stage_in = _staging_container("stage-in", "stage-in", {"inputs": dict(inputs), "dest": f"{WORK}/in"}, blob_env)
    publish = _staging_container(
        "publish",
        "publish",
        {"out": f"{WORK}/out", "prefix": output_prefix, "declared": list(declared_outputs), "messages": MESSAGES_FILE},
        blob_env,
    )
    spec: dict[str, Any] = {
        "restart_policy": "Never",
        "automount_service_account_token": False,
        "enable_service_links": False,
        "security_context": dict(POD_SECURITY_CONTEXT),
        "volumes": [
            {"name": "work", "empty_dir": {"size_limit": WORK_SIZE}},
            {"name": "staging-tmp", "empty_dir": {"size_limit": TMP_SIZE}},
            {"name": "program-tmp", "empty_dir": {"size_limit": TMP_SIZE}},
        ],
        "init_containers": [stage_in, program],
        "containers": [publish],
    }
    account = program_service_account()
    if account:
        spec["service_account_name"] = account
    return spec
