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

WORK = "/work"
MESSAGES_FILE = f"{WORK}/pipes/messages.jsonl"
BLOB_ENV = ("PLATFORM_BLOB_URL", "AWS_ENDPOINT_URL", "AWS_REGION")
BLOB_CREDENTIALS_SECRET = "platform-blob-credentials"  # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
STAGING_IMAGE = "base"


def _staging_container(name: str, action: str, spec: Mapping, env: Mapping[str, str]) -> dict:
    return {
        "name": name,
        "image": image_ref(STAGING_IMAGE),
        "command": ["python", "-m", "platform_assets.command.staging", action, json.dumps(spec)],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "env_from": [{"secret_ref": {"name": BLOB_CREDENTIALS_SECRET, "optional": True}}],
        "volume_mounts": [{"name": "work", "mount_path": WORK}],
    }


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
    """`base_pod_spec` for `PipesK8sClient.run` (``command`` already rendered with /work paths)."""
    program: dict[str, Any] = {
        "name": "program",
        "image": image_ref(image),
        "command": ["sh", "-c", f'mkdir -p {WORK}/out {WORK}/pipes && exec "$@"', "sh", *command],
        "env": [
            {"name": "OUTPUT_PATH", "value": f"{WORK}/out"},
            # Explicit DAGSTER_PIPES_MESSAGES: PipesK8sClient keeps it and adds the context.
            {"name": "DAGSTER_PIPES_MESSAGES", "value": encode_param({"path": MESSAGES_FILE})},
            *({"name": k, "value": v} for k, v in (program_env or {}).items()),
        ],
        "volume_mounts": [{"name": "work", "mount_path": WORK}],
        "working_dir": f"{WORK}/in",
    }
    if resources:
        program["resources"] = {"requests": dict(resources), "limits": {"memory": resources.get("memory", "1Gi")}}
    stage_in = _staging_container("stage-in", "stage-in", {"inputs": dict(inputs), "dest": f"{WORK}/in"}, blob_env)
    publish = _staging_container(
        "publish",
        "publish",
        {"out": f"{WORK}/out", "prefix": output_prefix, "declared": list(declared_outputs), "messages": MESSAGES_FILE},
        blob_env,
    )
    return {
        "restart_policy": "Never",
        "volumes": [{"name": "work", "empty_dir": {}}],
        "init_containers": [stage_in, program],
        "containers": [publish],
    }
