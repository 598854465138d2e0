"""What every pod the platform creates on Kubernetes gets: hardening, identity, labels and
only the secrets its family uses.

Three kinds of pods are created from code (the chart renders the code server itself):

- run pods (`K8sRunLauncher`): the code location's container context (chart); they start
  step Jobs, so they keep a service-account token; no family secret;
- step pods (`k8s_job_executor`): the container context, then `step_executor_config()`
  (no token), then the step's op tags (`k8s_op_tags` in images.py: image, resources, family
  label and the family's secret references; a command asset's step gets a token back to
  start its program pod);
- program pods (`PipesK8sClient`, platform_assets/command/k8s.py): the hardened pod below,
  with their own service account and no token.

Which secrets exist and which family uses which is the chart's business (values
`secretEnv`, `familySecretEnv`); it hands the *references* (Secret name and key, never a
value) to the platform as `PLATFORM_K8S_SECRETS`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from resources.settings import raw

RUN_AS = 10001  # the uid/gid of every image (docker/*.Dockerfile)
FAMILY_LABEL = "data-platform/family"
ROLE_LABEL = "data-platform/role"
PART_OF_LABEL = "app.kubernetes.io/part-of"
K8S_CONFIG_TAG = "dagster-k8s/config"

POD_SECURITY_CONTEXT: dict[str, Any] = {
    "run_as_non_root": True,
    "run_as_user": RUN_AS,
    "run_as_group": RUN_AS,
    "fs_group": RUN_AS,
    "seccomp_profile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allow_privilege_escalation": False,
    "privileged": False,
    "read_only_root_filesystem": True,
    "run_as_non_root": True,
    "capabilities": {"drop": ["ALL"]},
}


def family_of(key: Any) -> str | None:
    """The family of an asset key (its first part: asset keys are prefixed by family)."""
    if key is None:
        return None
    if isinstance(key, str):
        return key.split("/", 1)[0]
    path = getattr(key, "path", key)
    return str(path[0]) if path else None


def _secret_refs() -> dict[str, Any]:
    text = raw("PLATFORM_K8S_SECRETS")
    if not text:
        return {}
    try:
        refs = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"PLATFORM_K8S_SECRETS is not valid JSON: {error}") from None
    if not isinstance(refs, dict):
        raise ValueError("PLATFORM_K8S_SECRETS must be a JSON object {shared: [...], families: {...}}")
    return refs


def shared_secret_env() -> list[dict[str, Any]]:
    """Secret env references every pod touching storage gets (e.g. static AWS keys)."""
    return list(_secret_refs().get("shared") or [])


def family_secret_env(family: str | None) -> list[dict[str, Any]]:
    """Secret env references of one family's steps (the CTS token for `cts`, ...)."""
    if family is None:
        return []
    return list((_secret_refs().get("families") or {}).get(family) or [])


def program_service_account() -> str | None:
    return raw("PLATFORM_K8S_PROGRAM_SERVICE_ACCOUNT")


def resources_with_limits(requests: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Requests and equal limits (cpu and memory): a pod never takes more than it asked
    for, and it is admitted where a ResourceQuota demands limits."""
    return {"requests": dict(requests), "limits": {k: requests[k] for k in ("cpu", "memory") if k in requests}}


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def labels(family: str | None, role: str) -> dict[str, str]:
    """Pod labels the chart's NetworkPolicies select on (part-of, role, family)."""
    return {PART_OF_LABEL: "data-platform", ROLE_LABEL: role, **({FAMILY_LABEL: family} if family else {})}


def step_executor_config() -> dict[str, Any]:
    """`k8s_job_executor` config: step pods mount no service-account token (the run pod's
    context grants one to start Jobs; a step that starts pods asks for it in its op tags) and
    are labelled as steps (the context labels every pod as a run)."""
    return {
        "step_k8s_config": {
            "pod_spec_config": {"automount_service_account_token": False},
            "pod_template_spec_metadata": {"labels": labels(None, "step")},
        }
    }


def api_access_op_tags() -> dict[str, Any]:
    """Op tags of a step that uses the Kubernetes API itself (a command asset starting its
    program pod through Pipes)."""
    return {K8S_CONFIG_TAG: {"pod_spec_config": {"automount_service_account_token": True}}}
