"""helm/platform-code-location: lint, render, strict Kubernetes 1.32 validation, posture."""

from __future__ import annotations

import copy
import json

import pytest

from tests.deploy import tools
from tests.deploy.conftest import CHART, VARIANTS, by_kind

pytestmark = pytest.mark.slow  # helm and kubernetes-validate

SECRET_VARS = {"CTS_ADMIN_TOKEN", "GOALS_DATABASE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_helm_lint(helm_bin, images, variant):
    result = tools.helm(
        "lint", "--strict", str(CHART), *VARIANTS[variant], "--set-json", f"images={json.dumps(images)}"
    )
    assert "0 chart(s) failed" in result.stdout


def test_every_manifest_passes_strict_validation(rendered):
    errors = [e for manifest in rendered for e in tools.validation_errors(manifest)]
    assert not errors, "\n".join(errors)
    kinds = {m["kind"] for m in rendered}
    assert {"Deployment", "Service", "ConfigMap", "ServiceAccount", "Role", "RoleBinding"} <= kinds
    assert "Secret" not in kinds, "the chart must reference Secrets, never create them"


def test_validator_rejects_a_broken_manifest(rendered):
    """The validation above can fail: an unknown field and a wrong type are reported."""
    (deployment,) = by_kind(rendered, "Deployment")
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    broken["spec"]["replicas"] = "two"
    assert tools.validation_errors(broken)


def test_code_server_pod_is_locked_down(rendered):
    (deployment,) = by_kind(rendered, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/opt/dagster/dagster_home"} <= mounts, "writable scratch on a read-only root"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    port = str(container["ports"][0]["containerPort"])
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["exec"]["command"] == ["dagster", "api", "grpc-health-check", "-p", port]
    assert container["command"] == ["dagster", "api", "grpc"]
    args = container["args"]
    assert args[args.index("--module-name") + 1] == "platform_assets.definitions"
    assert args[args.index("--attribute") + 1] == "defs"


def test_secrets_only_by_reference(rendered):
    (cm,) = by_kind(rendered, "ConfigMap")
    assert not SECRET_VARS & set(cm["data"]), "secrets must not be in the ConfigMap"
    (deployment,) = by_kind(rendered, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert {"CTS_ADMIN_TOKEN", "GOALS_DATABASE_URL"} <= set(secret_env), "the code server's sensors need them"
    assert all(set(ref) == {"name", "key"} for ref in secret_env.values())
    plain = {e["name"] for e in container["env"] if "value" in e}
    assert not SECRET_VARS & plain
    # run (and, under their op tags, step) pods get only the shared references: no family secret
    context = json.loads(next(e["value"] for e in container["env"] if e["name"] == "DAGSTER_CONTAINER_CONTEXT"))
    shared = {e["name"] for e in context["k8s"]["env"]}
    assert not shared & {"CTS_ADMIN_TOKEN", "GOALS_DATABASE_URL"}
    # the platform learns the references (never values) of each family's secrets from the ConfigMap
    refs = json.loads(cm["data"]["PLATFORM_K8S_SECRETS"])
    assert {e["name"] for e in refs["shared"]} == shared
    assert {family: {e["name"] for e in env} for family, env in refs["families"].items()} == {
        "cts": {"CTS_ADMIN_TOKEN"},
        "nlp": {"GOALS_DATABASE_URL"},
    }
    by_name = {e["name"]: e["valueFrom"]["secretKeyRef"] for env in refs["families"].values() for e in env}
    assert by_name == {name: ref for name, ref in secret_env.items() if name in by_name}


def test_every_object_carries_each_label_once(helm_bin, images, variant):
    """helm output loaded strictly: a label key written twice (the runs ServiceAccount had
    `app.kubernetes.io/component` twice) fails to load."""
    out = tools.helm(
        "template", tools.RELEASE, str(CHART), *VARIANTS[variant], "--set-json", f"images={json.dumps(images)}"
    ).stdout
    manifests = tools.strict_load_all(out)
    accounts = {m["metadata"]["name"]: m["metadata"]["labels"] for m in by_kind(manifests, "ServiceAccount")}
    assert sorted(label["app.kubernetes.io/component"] for label in accounts.values()) == [
        "code-server",
        "program",
        "run-worker",
    ]


def test_config_map_carries_the_env_contract(rendered, images):
    (cm,) = by_kind(rendered, "ConfigMap")
    data = cm["data"]
    assert data["PLATFORM_ENV"] == "k8s"
    for var in (
        "PLATFORM_BLOB_URL",
        "PLATFORM_LAKE_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
        "CTS_JOBS_TOPIC",
        "CTS_JOBS_DLQ_TOPIC",
        "CTS_URL",
        "DASK_SCHEDULER_ADDRESS",
        "SPARK_MASTER",
    ):
        assert data[var], var
    assert data["CTS_JOBS_TOPIC"] == "cts-jobs" and data["CTS_JOBS_DLQ_TOPIC"] == "cts-jobs-dlq"
    assert {k: v for k, v in data.items() if k.startswith("PLATFORM_IMAGE_")} == {
        f"PLATFORM_IMAGE_{name.upper()}": ref for name, ref in images.items()
    }
    (deployment,) = by_kind(rendered, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == images["base"]


@pytest.mark.parametrize("bad", ["registry.example.org/data-platform/nlp:latest", "nlp@sha256:abc"])
def test_chart_refuses_images_not_pinned_by_digest(helm_bin, bad):
    proc = tools.helm("template", "x", str(CHART), "--set", f"images.nlp={bad}", check=False)
    assert proc.returncode != 0
    assert "images.nlp must be referenced by digest" in proc.stderr


def test_production_values_harden_the_deployment(helm_bin, images):
    manifests = tools.render(CHART, *VARIANTS["production"], "--set-json", f"images={json.dumps(images)}")
    (deployment,) = by_kind(manifests, "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    assert by_kind(manifests, "PodDisruptionBudget") and by_kind(manifests, "NetworkPolicy")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    names = {e["name"] for e in container["env"]}
    assert "AWS_SECRET_ACCESS_KEY" not in names, "production uses IRSA, no static keys"
    accounts = by_kind(manifests, "ServiceAccount")
    assert all("eks.amazonaws.com/role-arn" in sa["metadata"].get("annotations", {}) for sa in accounts)
