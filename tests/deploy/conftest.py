"""Fixtures for the offline deployment tests: helm, rendered charts, the pod environment, a live
code server started exactly as the Deployment starts it, and the code location's step list."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from localdev.processes import stop_process_group
from resources.shared.images import declared_images
from tests.deploy import k8s_jobs, tools

CHART = tools.REPO / "helm" / "platform-code-location"
PRODUCTION_VALUES = CHART / "values-production.yaml"
VARIANTS = {"default": [], "production": ["-f", str(PRODUCTION_VALUES)]}


def test_image_refs() -> dict[str, str]:
    """Distinct digests per image name, so a test can tell which image a pod got."""
    names = declared_images()
    return {name: f"registry.test/platform/{name}@sha256:{hashlib.sha256(name.encode()).hexdigest()}" for name in names}


@pytest.fixture(scope="session")
def helm_bin() -> str:
    return tools.helm_binary()


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    return test_image_refs()


@pytest.fixture(scope="session", params=sorted(VARIANTS))
def variant(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def rendered(manifests_for, variant) -> list[dict]:
    return manifests_for(variant)


def by_kind(manifests: list[dict], kind: str) -> list[dict]:
    return [m for m in manifests if m["kind"] == kind]


def pod_environment(manifests: list[dict], home: Path) -> dict[str, str]:
    """Env of the code-server container: ConfigMap + explicit env, secrets replaced by dummies."""
    (cm,) = by_kind(manifests, "ConfigMap")
    (deployment,) = by_kind(manifests, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = dict(cm["data"])
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        else:  # secretKeyRef: a dummy that must never be needed to load the definitions
            env[var["name"]] = f"dummy-{var['name'].lower()}"
    env["DAGSTER_HOME"] = str(home / "dagster_home")
    env["PLATFORM_HOME"] = str(home / "platform")
    (home / "dagster_home").mkdir(parents=True, exist_ok=True)
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    return {**keep, "PYTHONPATH": str(tools.REPO), **env}


@pytest.fixture(scope="session")
def default_manifests(helm_bin, images) -> list[dict]:
    return tools.render(CHART, "--set-json", f"images={json.dumps(images)}")


@pytest.fixture(scope="session")
def pod_env(default_manifests, tmp_path_factory) -> dict[str, str]:
    return pod_environment(default_manifests, tmp_path_factory.mktemp("pod"))


def load_report(env: dict[str, str]) -> dict:
    """Steps, executor (with config) and program pods of `platform_assets.definitions:defs`
    loaded with a pod's env (tests/deploy/inspect_definitions.py)."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "inspect_definitions.py")],
        env=env,
        cwd=tools.REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"definitions failed to load with PLATFORM_ENV=k8s:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def definitions_report(pod_env) -> dict:
    return load_report(pod_env)


@pytest.fixture(scope="session")
def manifests_for(helm_bin, images):
    """variant -> the chart rendered with that variant's values (cached)."""
    cache: dict[str, list[dict]] = {}

    def render(variant: str) -> list[dict]:
        if variant not in cache:
            cache[variant] = tools.render(CHART, *VARIANTS[variant], "--set-json", f"images={json.dumps(images)}")
        return cache[variant]

    return render


@pytest.fixture(scope="session")
def report_for(manifests_for, definitions_report, tmp_path_factory):
    """variant -> the report of the code location loaded with that variant's pod env (cached)."""
    cache: dict[str, dict] = {"default": definitions_report}

    def report(variant: str) -> dict:
        if variant not in cache:
            env = pod_environment(manifests_for(variant), tmp_path_factory.mktemp(f"pod-{variant}"))
            cache[variant] = load_report(env)
        return cache[variant]

    return report


@pytest.fixture(scope="session")
def variant_report(variant, report_for) -> dict:
    return report_for(variant)


@pytest.fixture(scope="session")
def kubeconfig(tmp_path_factory) -> Path:
    return k8s_jobs.write_dummy_kubeconfig(tmp_path_factory.mktemp("kube") / "config")


DAGSTER_VALUES = {
    "default": ["dagster-values.yaml"],
    "production": ["dagster-values.yaml", "dagster-values-production.yaml"],
}


def merged_values(files: list[Path]) -> dict:
    """Values files merged as helm does (maps merged, everything else replaced), each loaded
    strictly (a duplicate key fails)."""
    from resources.shared.pods import deep_merge

    merged: dict = {}
    for path in files:
        (values,) = tools.strict_load_all(path.read_text())
        merged = deep_merge(merged, values)
    return merged


@pytest.fixture(scope="session")
def launcher_for(kubeconfig):
    """variant -> the K8sRunLauncher that variant's dagster-values configure."""

    def build(variant: str):
        values = merged_values([tools.REPO / "helm" / name for name in DAGSTER_VALUES[variant]])
        return k8s_jobs.run_launcher(k8s_jobs.instance_config(values, tools.NAMESPACE), kubeconfig)

    return build


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="session")
def code_server(default_manifests, pod_env):
    """`dagster api grpc` started with the Deployment's own command, args and env (host/port
    changed to a free local port). Yields (port, probe command, env)."""
    from localdev.broker import free_port

    (deployment,) = by_kind(default_manifests, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    port = free_port()
    args = list(container["args"])
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    container_port = str(container["ports"][0]["containerPort"])
    probe = [
        port_arg if port_arg != container_port else str(port)
        for port_arg in container["readinessProbe"]["exec"]["command"]
    ]
    bin_dir = Path(sys.executable).parent
    env = {**pod_env, "PATH": f"{bin_dir}:{pod_env.get('PATH', '')}"}
    cmd = [str(bin_dir / container["command"][0]), *container["command"][1:], *args]
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=tools.REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            check = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=60)
            if check.returncode == 0:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read() if proc.poll() is not None else ""
                pytest.fail(f"code server never became healthy:\n{out[-4000:]}\n{check.stderr[-2000:]}")
            time.sleep(1)
        yield port, probe, env
    finally:
        stop_process_group(proc)
