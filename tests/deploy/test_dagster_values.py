"""helm/dagster-values*.yaml for the official Dagster chart, checked offline.

The chart (and its values.schema.json) cannot be pulled here, so: (1) the keys we set are
checked against the chart's documented structure, (2) the dagster.yaml the chart would render
from them is validated by Dagster's own config schemas (instance, QueuedRunCoordinator,
K8sRunLauncher, Postgres storage, S3 compute logs), (3) the workspace points at the Service of
helm/platform-code-location.
"""

from __future__ import annotations

import pytest
import sqlalchemy
import yaml

from tests.deploy import tools
from tests.deploy.conftest import by_kind
from tests.deploy.k8s_jobs import instance_config, run_launcher

pytestmark = pytest.mark.slow  # helm and kubernetes-validate

HELM = tools.REPO / "helm"
FILES = {"default": ["dagster-values.yaml"], "production": ["dagster-values.yaml", "dagster-values-production.yaml"]}

# Keys of the official chart (values.schema.json, Dagster 1.13) for the sections we set.
CHART_KEYS = {
    "": {
        "global",
        "dagsterWebserver",
        "dagster-user-deployments",
        "postgresql",
        "generatePostgresqlPasswordSecret",
        "computeLogManager",
        "runLauncher",
        "dagsterDaemon",
        "telemetry",
        "retention",
        "imagePullSecrets",
        "serviceAccount",
        "concurrency",
        "additionalInstanceConfig",
    },
    "dagsterDaemon.image": {"repository", "tag", "pullPolicy"},
    "dagsterWebserver.image": {"repository", "tag", "pullPolicy"},
    "runLauncher.config.k8sRunLauncher": {
        "image",
        "imagePullPolicy",
        "jobNamespace",
        "loadInclusterConfig",
        "kubeconfigFile",
        "envConfigMaps",
        "envSecrets",
        "envVars",
        "volumeMounts",
        "volumes",
        "labels",
        "failPodOnRunFailure",
        "resources",
        "schedulerName",
        "securityContext",
        "runK8sConfig",
    },
    "runLauncher.config.k8sRunLauncher.runK8sConfig": {
        "containerConfig",
        "podSpecConfig",
        "podTemplateSpecMetadata",
        "jobSpecConfig",
        "jobMetadata",
    },
    "postgresql": {
        "postgresqlScheme",
        "image",
        "enabled",
        "postgresqlHost",
        "postgresqlUsername",
        "postgresqlPassword",
        "postgresqlDatabase",
        "postgresqlParams",
        "service",
    },
    "dagsterDaemon.runCoordinator.config.queuedRunCoordinator": {
        "maxConcurrentRuns",
        "tagConcurrencyLimits",
        "dequeueIntervalSeconds",
        "dequeueNumWorkers",
        "dequeueUseThreads",
    },
    "dagsterWebserver.workspace": {"enabled", "servers", "externalConfigmap"},
    "dagster-user-deployments": {"enabled", "enableSubchart", "deployments", "imagePullSecrets"},
}


def deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.fixture(params=sorted(FILES))
def values(request) -> dict:
    merged: dict = {}
    for name in FILES[request.param]:
        merged = deep_merge(merged, yaml.safe_load((HELM / name).read_text()))
    return merged


def _at(values: dict, path: str):
    node = values
    for part in filter(None, path.split(".")):
        node = node.get(part, {})
    return node


def test_keys_are_the_official_charts(values):
    for path, allowed in CHART_KEYS.items():
        unknown = set(_at(values, path)) - allowed
        assert not unknown, f"{path or '<top>'}: keys unknown to the official chart: {unknown}"
    for limit in _at(values, "dagsterDaemon.runCoordinator.config.queuedRunCoordinator")["tagConcurrencyLimits"]:
        assert set(limit) <= {"key", "value", "limit"}


def test_instance_config_passes_dagsters_schemas(values, tmp_path, monkeypatch):
    from dagster._config import process_config, resolve_to_config_type
    from dagster._core.instance.config import dagster_instance_config
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_k8s import K8sRunLauncher
    from dagster_postgres import DagsterPostgresStorage

    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "from-the-chart-secret")  # as in the chart's pods
    cfg = instance_config(values, tools.NAMESPACE)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(cfg))
    dagster_instance_config(str(tmp_path))  # raises on any top-level schema error

    classes = {
        "run_launcher": K8sRunLauncher,
        "run_coordinator": QueuedRunCoordinator,
        "compute_logs": S3ComputeLogManager,
    }
    checks = [("storage.postgres", DagsterPostgresStorage, cfg["storage"]["postgres"])]
    checks += [(key, cls, cfg[key]["config"]) for key, cls in classes.items() if key in cfg]
    for where, cls, section in checks:
        result = process_config(resolve_to_config_type(cls.config_type()), section)
        assert result.success, f"{where}: {[e.message for e in result.errors]}"


def test_queue_limits_cts_importers_per_importer(values):
    queued = _at(values, "dagsterDaemon.runCoordinator.config.queuedRunCoordinator")
    (importer,) = [t for t in queued["tagConcurrencyLimits"] if t["key"] == "platform/importer"]
    assert importer["value"] == {"applyLimitPerUniqueValue": True} and importer["limit"] >= 1
    assert values["dagsterDaemon"]["runRetries"]["enabled"] and values["dagsterDaemon"]["runRetries"]["maxRetries"] > 0
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"]


def test_postgres_url_uses_psycopg2(values):
    from dagster_postgres.utils import get_conn_string

    pg = values["postgresql"]
    url = get_conn_string(
        username=pg["postgresqlUsername"],
        password="x",
        hostname="db",
        db_name=pg["postgresqlDatabase"],
        scheme=pg["postgresqlScheme"],
    )
    assert sqlalchemy.engine.make_url(url).get_dialect().driver == "psycopg2"


def test_workspace_points_at_the_code_location_service(values, default_manifests):
    users = values["dagster-user-deployments"]
    # the official chart writes workspace.yaml only when enabled, and must not deploy user code
    assert users["enabled"] is True and users["enableSubchart"] is False
    workspace = values["dagsterWebserver"]["workspace"]
    assert workspace["enabled"] is True
    (server,) = workspace["servers"]
    (service,) = by_kind(default_manifests, "Service")
    (deployment,) = by_kind(default_manifests, "Deployment")
    assert server["host"] == f"{service['metadata']['name']}.{tools.NAMESPACE}.svc.cluster.local"
    assert server["port"] == service["spec"]["ports"][0]["port"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert server["name"] == args[args.index("--location-name") + 1]


def test_run_launcher_builds_from_the_values(values, kubeconfig):
    launcher = run_launcher(instance_config(values, tools.NAMESPACE), kubeconfig)
    assert launcher.job_namespace == tools.NAMESPACE
    assert launcher.fail_pod_on_run_failure is True


def test_every_process_opening_the_instance_can_import_it(values):
    """The instance is the platform's (`instance_class`): the daemon and the webserver run the
    platform's base image, the code server, run and step pods the family images built on it."""
    import json

    cfg = instance_config(values, tools.NAMESPACE)
    assert cfg["instance_class"] == {"module": "platform_assets.runtime.instance", "class": "PlatformInstance"}
    base = json.loads((tools.REPO / "docker" / "images.json").read_text())["base"]
    for service in ("dagsterDaemon", "dagsterWebserver"):
        assert values[service]["image"]["repository"] == base.split("@")[0], service
    dockerfile = (tools.REPO / "docker" / "base.Dockerfile").read_text()
    assert "COPY platform_assets /opt/platform/platform_assets" in dockerfile
