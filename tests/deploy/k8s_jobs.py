"""What dagster-k8s would send to the API server, built offline from this repo's configuration.

- `instance_config(values)`: the dagster.yaml the official chart writes from dagster-values
  (its configmap-instance template, restated for the keys we set), so Dagster's own config
  schemas can check our values.
- `run_launcher(...)`: the K8sRunLauncher that dagster.yaml configures (a dummy kubeconfig
  satisfies its client setup; nothing is contacted).
- `step_job(...)` / `run_job(...)`: the exact V1Job for a step (k8s_job_executor) or a run
  (K8sRunLauncher), merging the launcher config, the code server's container context and the
  op tags through dagster-k8s's own code paths, then `construct_dagster_k8s_job`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kubernetes
import yaml

DAGSTER_RELEASE = "dagster"
DAGSTER_HOME = "/opt/dagster/dagster_home"
DIGEST_RE = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")

DUMMY_KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "offline", "cluster": {"server": "https://127.0.0.1:9"}}],
    "users": [{"name": "offline", "user": {"token": "not-a-real-token"}}],
    "contexts": [{"name": "offline", "context": {"cluster": "offline", "user": "offline"}}],
    "current-context": "offline",
}


def write_dummy_kubeconfig(path: Path) -> Path:
    path.write_text(yaml.safe_dump(DUMMY_KUBECONFIG))
    return path


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _snake_keys(d: dict) -> dict:
    return {_snake(k): v for k, v in d.items()}


def instance_config(values: dict, namespace: str) -> dict:
    """dagster.yaml as the official chart renders it from `values` (the parts we configure)."""
    pg = values["postgresql"]
    postgres_db = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"] or f"{DAGSTER_RELEASE}-postgresql",
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams") or {},
    }
    if pg.get("postgresqlScheme"):
        postgres_db["scheme"] = pg["postgresqlScheme"]

    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher", launcher["type"]
    k8s = launcher["config"]["k8sRunLauncher"]
    launcher_config = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or namespace,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": DAGSTER_RELEASE,
        "instance_config_map": f"{DAGSTER_RELEASE}-instance",
        "postgres_password_secret": values.get("global", {}).get("postgresqlSecretName", "dagster-postgresql-secret"),
        "dagster_home": DAGSTER_HOME,
        "env_config_maps": [f"{DAGSTER_RELEASE}-pipeline-env", *k8s.get("envConfigMaps", [])],
        "env_secrets": list(k8s.get("envSecrets", [])),
        "env_vars": list(k8s.get("envVars", [])),
        "volume_mounts": list(k8s.get("volumeMounts", [])),
        "volumes": list(k8s.get("volumes", [])),
    }
    for key in ("labels", "failPodOnRunFailure", "resources", "schedulerName", "securityContext"):
        if k8s.get(key) is not None:
            launcher_config[_snake(key)] = k8s[key]
    if k8s.get("runK8sConfig"):
        launcher_config["run_k8s_config"] = _snake_keys(k8s["runK8sConfig"])

    daemon = values["dagsterDaemon"]
    coordinator = daemon["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"
    queued = _snake_keys(coordinator["config"]["queuedRunCoordinator"])

    config: dict[str, Any] = {
        "storage": {"postgres": {"postgres_db": postgres_db}},
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher_config},
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": queued,
        },
        "run_monitoring": _snake_keys(daemon["runMonitoring"]),
        "run_retries": _snake_keys(daemon["runRetries"]),
        "telemetry": {"enabled": values.get("telemetry", {}).get("enabled", True)},
    }
    clm = values.get("computeLogManager")
    if clm and clm.get("type") == "S3ComputeLogManager":
        config["compute_logs"] = {
            "module": "dagster_aws.s3.compute_log_manager",
            "class": "S3ComputeLogManager",
            "config": _snake_keys(clm["config"]["s3ComputeLogManager"]),
        }
    config.update(values.get("additionalInstanceConfig") or {})  # appended as is by the chart
    retention = values.get("retention") or {}
    if retention.get("enabled"):
        config["retention"] = {
            _snake(kind): {"purge_after_days": spec["purgeAfterDays"]}
            for kind, spec in retention.items()
            if kind != "enabled"
        }
    return config


def run_launcher(instance_cfg: dict, kubeconfig: Path):
    from dagster_k8s import K8sRunLauncher

    cfg = dict(instance_cfg["run_launcher"]["config"])
    cfg["load_incluster_config"] = False
    cfg["kubeconfig_file"] = str(kubeconfig)
    return K8sRunLauncher(**cfg)


def dagster_run(job_name: str, container_image: str, container_context: dict | None):
    """A DagsterRun whose code origin carries the code server's image and container context."""
    import dagster as dg
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
    from dagster._core.utils import make_new_run_id

    origin = JobPythonOrigin(
        job_name,
        RepositoryPythonOrigin(
            executable_path=sys.executable,
            code_pointer=ModuleCodePointer("platform_assets.definitions", "defs", None),
            container_image=container_image,
            container_context=container_context,
        ),
    )
    return dg.DagsterRun(job_name=job_name, run_id=make_new_run_id(), job_code_origin=origin)


def step_job(
    run, launcher, kubeconfig: Path, op_name: str, op_tags: dict[str, str], executor_config: dict | None = None
):
    """The V1Job `k8s_job_executor` would create for one step, with the executor's config
    (``executor_config``, as the code location configures it) applied by dagster-k8s itself."""
    from dagster_k8s import k8s_job_executor
    from dagster_k8s.job import construct_dagster_k8s_job, get_k8s_job_name

    config = {
        "retries": {"enabled": {}},
        **(executor_config or {}),
        "load_incluster_config": False,
        "kubeconfig_file": str(kubeconfig),
    }
    init_context: Any = SimpleNamespace(instance=SimpleNamespace(run_launcher=launcher), executor_config=config)
    executor: Any = k8s_job_executor.executor_creation_fn(init_context)  # type: ignore[misc]  # dagster's own construction
    handler = executor._step_handler
    step_context = SimpleNamespace(
        dagster_run=run,
        instance=SimpleNamespace(run_launcher=launcher),
        execute_step_args=SimpleNamespace(step_keys_to_execute=[op_name]),
        step_tags={op_name: op_tags},
        get_step_context=lambda key: SimpleNamespace(step=SimpleNamespace(op_name=key)),
    )
    container_context = handler._get_container_context(step_context)  # a stand-in context
    job_config = container_context.get_k8s_job_config(None, launcher)
    if not job_config.job_image:
        job_config = job_config.with_image(run.job_code_origin.repository_origin.container_image)
    name = f"dagster-step-{get_k8s_job_name(run.run_id, op_name)}"
    job = construct_dagster_k8s_job(
        job_config=job_config,
        args=["dagster", "api", "execute_step"],
        job_name=name,
        pod_name=name,
        component="step_worker",
        user_defined_k8s_config=container_context.run_k8s_config,
        labels={"dagster/job": run.job_name, "dagster/op": op_name, "dagster/run-id": run.run_id},
        env_vars=[
            {"name": "DAGSTER_RUN_JOB_NAME", "value": run.job_name},
            {"name": "DAGSTER_RUN_STEP_KEY", "value": op_name},
        ],
    )
    return to_manifest(job), container_context.namespace


def run_job(run, launcher):
    """The V1Job the K8sRunLauncher would create for the run worker."""
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import construct_dagster_k8s_job, get_job_name_from_run_id

    container_context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=True)
    job_config = container_context.get_k8s_job_config(run.job_code_origin.repository_origin.container_image, launcher)
    name = get_job_name_from_run_id(run.run_id)
    job = construct_dagster_k8s_job(
        job_config=job_config,
        args=["dagster", "api", "execute_run"],
        job_name=name,
        pod_name=name,
        component="run_worker",
        user_defined_k8s_config=container_context.run_k8s_config,
        labels={"dagster/job": run.job_name, "dagster/run-id": run.run_id},
    )
    return to_manifest(job)


def to_manifest(model) -> dict:
    return kubernetes.client.ApiClient().sanitize_for_serialization(model)


def op_k8s_config(tags: dict[str, str]) -> dict:
    raw = tags.get("dagster-k8s/config")
    return json.loads(raw) if raw else {}


def container_context(manifests: list[dict]) -> tuple[str, dict]:
    """(image, container context) the code server of these rendered manifests reports."""
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    return env["DAGSTER_CONTAINER_IMAGE"], json.loads(env["DAGSTER_CONTAINER_CONTEXT"])
