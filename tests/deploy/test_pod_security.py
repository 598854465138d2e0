"""Every pod the platform creates passes PodSecurity "restricted" and the platform's hardening,
checked offline with tests/deploy/pod_security.py:

- every manifest `helm template` renders (default and production values);
- the run worker Job the K8sRunLauncher builds (each variant's dagster-values);
- the Job of every step (asset and asset check) the k8s_job_executor builds, with the code
  location's executor config and each step's op tags;
- the pod `PipesK8sClient` creates for every command asset (stage-in, program, publish).

The validator itself is tested first: each published control, violated on any kind of
container, is reported; compliant variations are not.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.deploy import tools
from tests.deploy.k8s_jobs import container_context, dagster_run, run_job, step_job
from tests.deploy.pod_security import (
    CONTAINER_KINDS,
    hardening_violations,
    manifest_violations,
    pod_templates,
    restricted_violations,
)

pytestmark = pytest.mark.slow  # helm, a code location per variant

DAGSTER_VALUES = {
    "default": ["dagster-values.yaml"],
    "production": ["dagster-values.yaml", "dagster-values-production.yaml"],
}


def compliant_pod() -> dict:
    container = {
        "name": "main",
        "image": "registry.test/x@sha256:" + "0" * 64,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": {}},
        "spec": {
            "serviceAccountName": "runner",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
            "initContainers": [{**copy.deepcopy(container), "name": "init"}],
            "containers": [container],
        },
    }


def _container(pod: dict, kind: str) -> dict:
    spec = pod["spec"]
    if kind == "ephemeralContainers" and not spec.get(kind):
        spec[kind] = [{**copy.deepcopy(spec["containers"][0]), "name": "debug"}]
    return spec[kind][0]


def _set(path: str, value):
    def mutate(pod: dict, kind: str) -> None:
        target = _container(pod, kind)
        *parents, leaf = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value

    return mutate


def _pod(path: str, value):
    def mutate(pod: dict, kind: str) -> None:
        target = pod["spec"]
        *parents, leaf = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value

    return mutate


def _append(path: str, item, *, pod_level: bool = False):
    """Add ``item`` to a list (other mutations of the same list survive)."""

    def mutate(pod: dict, kind: str) -> None:
        target = pod["spec"] if pod_level else _container(pod, kind)
        *parents, leaf = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target.setdefault(leaf, []).append(item)

    return mutate


def _without(path: str, *, pod_level: bool = False):
    def mutate(pod: dict, kind: str) -> None:
        target = pod["spec"] if pod_level else _container(pod, kind)
        *parents, leaf = path.split(".")
        for part in parents:
            target = target.get(part, {})
        target.pop(leaf, None)

    return mutate


def _both(*mutations):
    def mutate(pod: dict, kind: str) -> None:
        for mutation in mutations:
            mutation(pod, kind)

    return mutate


# (control ID of the published standard, a violation of it)
VIOLATIONS = [
    ("hostProcess", _set("securityContext.windowsOptions.hostProcess", True)),
    ("hostNamespaces", _pod("hostNetwork", True)),
    ("hostNamespaces", _pod("hostPID", True)),
    ("hostNamespaces", _pod("hostIPC", True)),
    ("privileged", _set("securityContext.privileged", True)),
    ("capabilities_baseline", _append("securityContext.capabilities.add", "SYS_ADMIN")),
    ("hostPathVolumes", _append("volumes", {"name": "host", "hostPath": {"path": "/"}}, pod_level=True)),
    ("hostPorts", _set("ports", [{"containerPort": 80, "hostPort": 80}])),
    ("appArmorProfile", _set("securityContext.appArmorProfile", {"type": "Unconfined"})),
    ("seLinuxOptions", _set("securityContext.seLinuxOptions", {"type": "spc_t"})),
    ("seLinuxOptions", _set("securityContext.seLinuxOptions", {"user": "root"})),
    ("procMount", _set("securityContext.procMount", "Unmasked")),
    ("seccompProfile_baseline", _set("securityContext.seccompProfile", {"type": "Unconfined"})),
    ("sysctls", _append("securityContext.sysctls", {"name": "kernel.msgmax", "value": "1"}, pod_level=True)),
    ("restrictedVolumes", _append("volumes", {"name": "git", "gitRepo": {"repository": "x"}}, pod_level=True)),
    ("allowPrivilegeEscalation", _without("securityContext.allowPrivilegeEscalation")),
    ("allowPrivilegeEscalation", _set("securityContext.allowPrivilegeEscalation", True)),
    ("runAsNonRoot", _set("securityContext.runAsNonRoot", False)),
    ("runAsNonRoot", _without("securityContext.runAsNonRoot", pod_level=True)),
    ("runAsUser", _set("securityContext.runAsUser", 0)),
    ("runAsUser", _pod("securityContext.runAsUser", 0)),
    ("seccompProfile_restricted", _without("securityContext.seccompProfile", pod_level=True)),
    ("capabilities_restricted", _set("securityContext.capabilities.drop", ["NET_RAW"])),
    ("capabilities_restricted", _append("securityContext.capabilities.add", "CHOWN")),
]
# Allowed by the standard: none of these may be reported.
COMPLIANT = [
    _append("securityContext.capabilities.add", "NET_BIND_SERVICE"),
    _set("securityContext.runAsNonRoot", True),
    _set("securityContext.seccompProfile", {"type": "Localhost", "localhostProfile": "p.json"}),
    _set("securityContext.seLinuxOptions", {"type": "container_t", "level": "s0:c1"}),
    _set("securityContext.appArmorProfile", {"type": "RuntimeDefault"}),
    _append("securityContext.sysctls", {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}, pod_level=True),
    _append("volumes", {"name": "config", "configMap": {"name": "x"}}, pod_level=True),
    _append("volumes", {"name": "data", "persistentVolumeClaim": {"claimName": "x"}}, pod_level=True),
]
# A violation of the first control is one of the second too (hostPath is no allowed volume
# type, an added capability beyond NET_BIND_SERVICE and Unconfined seccomp are refused by both).
IMPLIES = {
    "capabilities_baseline": "capabilities_restricted",
    "hostPathVolumes": "restrictedVolumes",
    "seccompProfile_baseline": "seccompProfile_restricted",
}


def test_the_compliant_pod_passes():
    pod = compliant_pod()
    assert manifest_violations(pod) == []


@pytest.mark.parametrize("control, violate", VIOLATIONS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(VIOLATIONS)])
@pytest.mark.parametrize("kind", CONTAINER_KINDS)
def test_each_control_is_enforced_on_every_container_kind(control, violate, kind):
    pod = compliant_pod()
    violate(pod, kind)
    (where, metadata, spec), *_ = pod_templates(pod)
    assert any(v.startswith(f"{control}:") for v in restricted_violations(metadata, spec)), control


@settings(max_examples=150, derandomize=True, deadline=None)
@given(
    violations=st.lists(st.sampled_from(range(len(VIOLATIONS))), min_size=0, max_size=3, unique=True),
    allowed=st.lists(st.sampled_from(range(len(COMPLIANT))), max_size=4, unique=True),
    kind=st.sampled_from(CONTAINER_KINDS),
)
def test_violations_are_reported_exactly(violations, allowed, kind):
    """Invariant: after any compliant variations, a pod is admitted; add any set of violations
    (on any container kind) and every one of their controls is reported, no other control."""
    pod = compliant_pod()
    for index in allowed:
        COMPLIANT[index](pod, kind)
    for index in violations:
        VIOLATIONS[index][1](pod, kind)
    (_, metadata, spec), *_ = pod_templates(pod)
    reported = {v.split(":", 1)[0] for v in restricted_violations(metadata, spec)}
    expected = {VIOLATIONS[i][0] for i in violations}
    expected |= {IMPLIES[c] for c in expected if c in IMPLIES}
    assert reported == expected


def test_non_root_may_be_set_on_every_container_instead_of_the_pod():
    pod = compliant_pod()
    del pod["spec"]["securityContext"]["runAsNonRoot"]
    assert any(": runAsNonRoot:" in v for v in manifest_violations(pod))
    for kind in ("initContainers", "containers"):
        pod["spec"][kind][0]["securityContext"]["runAsNonRoot"] = True
    assert manifest_violations(pod) == []


def test_hardening_rules_catch_what_restricted_allows():
    """ "restricted" admits these; the platform does not."""
    cases = {
        "readOnlyRootFilesystem": _set("securityContext.readOnlyRootFilesystem", False),
        "no limits": _without("resources.limits"),
        "than its limit": _set("resources.requests", {"cpu": "2", "memory": "64Mi"}),
        "writable but it is not an emptyDir": _pod(
            "volumes", [{"name": "tmp", "persistentVolumeClaim": {"claimName": "c"}}]
        ),
        "no sizeLimit": _pod("volumes", [{"name": "tmp", "emptyDir": {}}]),
        "automountServiceAccountToken must be false": _without("automountServiceAccountToken", pod_level=True),
        "dedicated serviceAccountName": _pod("serviceAccountName", "default"),
    }
    for message, violate in cases.items():
        pod = compliant_pod()
        violate(pod, "containers")
        (_, metadata, spec), *_ = pod_templates(pod)
        assert restricted_violations(metadata, spec) == [], message
        assert any(message in v for v in hardening_violations(metadata, spec)), message
    pod = compliant_pod()
    assert any("mounts no service-account token" in v for v in hardening_violations({}, pod["spec"], api_access=True))


# ---- coverage: everything the platform creates ------------------------------------------


def test_every_rendered_manifest_passes(rendered):
    pods = [m for m in rendered if list(pod_templates(m))]
    assert pods, "the chart renders no pod"
    problems = [v for manifest in rendered for v in manifest_violations(manifest)]
    assert not problems, "\n".join(problems)


def uses_the_api(step: dict) -> bool:
    """Steps that start pods themselves: the command assets (they run their program pod)."""
    config = json.loads(step["tags"].get("dagster-k8s/config", "{}"))
    return (config.get("pod_spec_config") or {}).get("automount_service_account_token") is True


def test_run_worker_job_passes(rendered, variant, launcher_for):
    image, context = container_context(rendered)
    job = run_job(dagster_run("__ASSET_JOB", image, context), launcher_for(variant))
    problems = manifest_violations(job, api_access=True)  # it creates the step Jobs
    assert not problems, "\n".join(problems)


def test_every_step_job_passes(rendered, variant, variant_report, launcher_for, kubeconfig):
    image, context = container_context(rendered)
    run = dagster_run("__ASSET_JOB", image, context)
    launcher = launcher_for(variant)
    problems, api_steps = [], []
    for step in variant_report["steps"]:
        job, _ = step_job(run, launcher, kubeconfig, step["op"], step["tags"], variant_report["executor_config"])
        if uses_the_api(step):
            api_steps.append(step["op"])
        problems += manifest_violations(job, api_access=uses_the_api(step))
    assert not problems, "\n".join(problems)
    assert api_steps == ["kalman__posterior"], "only the command asset's step may call the API"


def test_every_program_pod_passes(variant_report):
    pods = variant_report["program_pods"]
    assert set(pods) == {"kalman/posterior"}
    problems = [v for pod in pods.values() for v in manifest_violations(pod)]
    assert not problems, "\n".join(problems)
    (pod,) = pods.values()
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["stage-in", "program"]
    assert pod["spec"]["serviceAccountName"].endswith("-programs")


def test_a_manifest_with_a_duplicate_key_is_refused():
    """The strict loader every rendered manifest goes through rejects a repeated key."""
    text = "metadata:\n  labels:\n    app.kubernetes.io/component: a\n    app.kubernetes.io/component: b\n"
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'app.kubernetes.io/component'"):
        tools.strict_load_all(text)
    assert tools.strict_load_all("a: 1\n---\nb: 2\n") == [{"a": 1}, {"b": 2}]


def test_dagster_values_load_strictly():
    for name in ("dagster-values.yaml", "dagster-values-production.yaml"):
        assert tools.strict_load_all((tools.REPO / "helm" / name).read_text())
