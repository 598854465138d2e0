"""Every step of the code location, as the Kubernetes Job dagster-k8s would create for it.

The code location is loaded with the environment the chart gives its pods (PLATFORM_ENV=k8s,
PLATFORM_IMAGE_<NAME> from the ConfigMap); the container context comes from a live code server
started with the Deployment's own command; the run launcher from helm/dagster-values.yaml. For
each asset (and asset check) the step Job must run the image its op tags name, by digest, with
the declared resources, inherit the pod hardening and secret references, and pass
`kubernetes-validate --strict` for 1.32. Generic: new assets are covered without test changes.
"""

from __future__ import annotations

import json

import dagster as dg
import pytest
import yaml
from kubernetes.utils import parse_quantity

from tests.deploy import tools
from tests.deploy.conftest import by_kind
from tests.deploy.inspect_definitions import report
from tests.deploy.k8s_jobs import (
    DIGEST_RE,
    dagster_run,
    instance_config,
    op_k8s_config,
    run_job,
    run_launcher,
    step_job,
)

pytestmark = pytest.mark.slow  # a real code server

DAGSTER_VALUES = tools.REPO / "helm" / "dagster-values.yaml"


@pytest.fixture(scope="module")
def launcher(kubeconfig):
    values = yaml.safe_load(DAGSTER_VALUES.read_text())
    return run_launcher(instance_config(values, tools.NAMESPACE), kubeconfig)


@pytest.fixture(scope="module")
def served(code_server):
    """Image and container context the live code server reports (what the webserver stores)."""
    from dagster._api.list_repositories import sync_list_repositories_grpc
    from dagster._grpc.client import DagsterGrpcClient

    port, _, _ = code_server
    response = sync_list_repositories_grpc(DagsterGrpcClient(port=port, host="127.0.0.1"))
    return response.container_image, response.container_context


def step_problems(step: dict, job: dict, images: dict[str, str], base_image: str, run_resources: dict) -> list[str]:
    """What is wrong with one step's Job (empty: nothing)."""
    problems = []
    name = step["op"]
    container_config = op_k8s_config(step["tags"]).get("container_config", {})
    (container,) = job["spec"]["template"]["spec"]["containers"]
    expected_image = container_config.get("image", base_image)
    if expected_image not in images.values():
        problems.append(f"{name}: image {expected_image!r} is not one of the configured images")
    if not DIGEST_RE.match(expected_image):
        problems.append(f"{name}: image {expected_image!r} is not referenced by digest")
    if container["image"] != expected_image:
        problems.append(f"{name}: Job runs {container['image']!r}, op tags say {expected_image!r}")
    expected_resources = container_config.get("resources", run_resources)
    if container.get("resources") != expected_resources:
        problems.append(f"{name}: Job resources {container.get('resources')} != {expected_resources}")
    resources = container.get("resources") or {}
    if not resources.get("requests", {}).get("memory"):
        problems.append(f"{name}: no memory request")
    for kind, limit in resources.get("limits", {}).items():  # the API server rejects request > limit
        request = resources.get("requests", {}).get(kind)
        if request is not None and parse_quantity(request) > parse_quantity(limit):
            problems.append(f"{name}: {kind} request {request} exceeds limit {limit}")
    if not (container.get("securityContext") or {}).get("readOnlyRootFilesystem"):
        problems.append(f"{name}: root filesystem is writable")
    problems += [f"{name}: {e}" for e in tools.validation_errors(job)]
    return problems


def test_definitions_load_in_k8s_mode_without_a_cluster(definitions_report, pod_env):
    assert pod_env["PLATFORM_ENV"] == "k8s"
    assert definitions_report["executor"] == "k8s", "PLATFORM_ENV=k8s must select k8s_job_executor"
    assert definitions_report["steps"], "the code location has no executable assets"


def test_code_server_reports_image_and_container_context(served, images, default_manifests, code_server):
    image, context = served
    assert image == images["base"]
    (deployment,) = by_kind(default_manifests, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert context == json.loads(env["DAGSTER_CONTAINER_CONTEXT"])
    assert context["k8s"]["service_account_name"].endswith("-runs")


def test_every_step_job_runs_its_image_with_its_resources(
    definitions_report, served, images, launcher, kubeconfig, default_manifests
):
    base_image, context = served
    run = dagster_run("__ASSET_JOB", base_image, context)
    run_resources = context["k8s"]["resources"]
    (cm,) = by_kind(default_manifests, "ConfigMap")
    problems, images_used = [], set()
    for step in definitions_report["steps"]:
        job, namespace = step_job(
            run, launcher, kubeconfig, step["op"], step["tags"], definitions_report["executor_config"]
        )
        problems += step_problems(step, job, images, base_image, run_resources)
        pod = job["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        images_used.add(container["image"])
        assert namespace == tools.NAMESPACE
        assert pod["serviceAccountName"] == context["k8s"]["service_account_name"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert {"configMapRef": {"name": cm["metadata"]["name"]}} in container["envFrom"]
    assert not problems, "\n".join(problems)
    assert images_used <= set(images.values())


def test_run_worker_job(served, launcher):
    base_image, context = served
    job = run_job(dagster_run("__ASSET_JOB", base_image, context), launcher)
    assert not tools.validation_errors(job)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == base_image
    assert container["resources"] == context["k8s"]["resources"]
    assert job["spec"]["backoffLimit"] == 0, "retries belong to Dagster, not to the Job"


def test_probe_command_fails_without_a_server(code_server):
    """The health-check probe can fail: against a port nobody serves it exits non-zero."""
    import subprocess

    from localdev.broker import free_port

    _, probe, env = code_server
    dead = [*probe[:-1], str(free_port())]
    assert subprocess.run(dead, env=env, capture_output=True, timeout=120).returncode != 0


def test_step_check_catches_a_tag_image_and_missing_resources(served, images, launcher, kubeconfig):
    """The per-step check fails for an asset pinned by tag, not digest, without resources."""
    base_image, context = served

    @dg.asset(
        key=["demo", "unpinned"],
        op_tags={
            "dagster-k8s/config": {"container_config": {"image": "registry.example.org/data-platform/nlp:latest"}}
        },
    )
    def unpinned():
        return 1

    (step,) = report(dg.Definitions(assets=[unpinned]))["steps"]
    run = dagster_run("__ASSET_JOB", base_image, context)
    job, _ = step_job(run, launcher, kubeconfig, step["op"], step["tags"])
    problems = step_problems(step, job, images, base_image, context["k8s"]["resources"])
    assert any("not referenced by digest" in p for p in problems)
    assert any("not one of the configured images" in p for p in problems)


def code_location_images(images: dict[str, str]) -> set[str]:
    """Images that contain the code location (can run `dagster api execute_step`): base and the
    images built FROM it. Program-only images (kalman) belong in Pipes pods, not in steps."""
    docker = tools.REPO / "docker"
    return {
        ref
        for name, ref in images.items()
        if name == "base" or "FROM ${BASE_IMAGE}" in (docker / f"{name}.Dockerfile").read_text()
    }


def test_every_step_image_contains_the_code_location(definitions_report, images):
    runnable = code_location_images(images)
    wrong = {
        step["op"]: image
        for step in definitions_report["steps"]
        if (image := op_k8s_config(step["tags"]).get("container_config", {}).get("image", images["base"]))
        not in runnable
    }
    assert not wrong, f"steps whose image cannot run Dagster: {wrong}"
