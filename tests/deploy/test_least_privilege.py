"""Each pod gets only the secrets and the network its work needs (offline, both variants).

Secrets: a step pod gets the shared references (storage) and its own family's only (the CTS
token only in CTS steps, the goals database URL only in NLP steps); run pods and program pods
get no family secret, and a program container no secret at all. Network (production values):
every pod the platform creates is selected by an egress NetworkPolicy, so it may reach only
what the policies selecting it allow.
"""

from __future__ import annotations

import functools
import json

import pytest

from tests.deploy.conftest import CHART, PRODUCTION_VALUES, by_kind, merged_values
from tests.deploy.k8s_jobs import container_context, dagster_run, run_job, step_job

pytestmark = pytest.mark.slow  # helm, a code location per variant

# Dagster's own: the instance database password every run and step pod needs to record events.
INSTANCE_SECRETS = {"DAGSTER_PG_PASSWORD"}


def secret_refs(manifests: list[dict]) -> tuple[set[str], dict[str, set[str]]]:
    (cm,) = by_kind(manifests, "ConfigMap")
    refs = json.loads(cm["data"]["PLATFORM_K8S_SECRETS"])
    return {e["name"] for e in refs["shared"]}, {f: {e["name"] for e in env} for f, env in refs["families"].items()}


def secrets_of(container: dict) -> set[str]:
    names = {e["name"] for e in container.get("env") or [] if "secretKeyRef" in (e.get("valueFrom") or {})}
    return names | {f"envFrom:{e['secretRef']['name']}" for e in container.get("envFrom") or [] if "secretRef" in e}


def family_of_step(step: dict) -> str:
    (family,) = {key.split("/", 1)[0] for key in step["keys"]}
    return family


def family_label(job: dict, step: dict) -> str | None:
    """The family label of a step's pod: every asset step carries its family's; asset checks
    (steps without the platform's op tags) carry none and so get no family privilege."""
    family = job["spec"]["template"]["metadata"]["labels"].get("data-platform/family")
    is_check = all(":" in key for key in step["keys"])
    assert family == (None if is_check else family_of_step(step)), step["op"]
    return family


def build_step_jobs(manifests: list[dict], report: dict, launcher, kubeconfig) -> dict[str, tuple[dict, dict]]:
    """op -> (step, the Job dagster-k8s builds for it)."""
    image, context = container_context(manifests)
    run = dagster_run("__ASSET_JOB", image, context)
    return {
        step["op"]: (step, step_job(run, launcher, kubeconfig, step["op"], step["tags"], report["executor_config"])[0])
        for step in report["steps"]
    }


@pytest.fixture(scope="module")
def step_jobs(rendered, variant, variant_report, launcher_for, kubeconfig):
    return build_step_jobs(rendered, variant_report, launcher_for(variant), kubeconfig)


def test_each_step_gets_only_its_familys_secrets(rendered, step_jobs):
    shared, families = secret_refs(rendered)
    assert families == {"cts": {"CTS_ADMIN_TOKEN"}, "nlp": {"GOALS_DATABASE_URL"}}
    seen_families = set()
    for op, (step, job) in step_jobs.items():
        family = family_label(job, step)
        seen_families.add(family)
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert secrets_of(container) == shared | INSTANCE_SECRETS | families.get(family or "", set()), op
        labels = job["spec"]["template"]["metadata"]["labels"]
        assert labels["data-platform/role"] == "step", op
    assert {"cts", "nlp", "kalman", "propagation"} <= seen_families
    cts_steps = [op for op, (step, _) in step_jobs.items() if family_of_step(step) == "cts"]
    assert cts_steps and all(
        "CTS_ADMIN_TOKEN" in secrets_of(step_jobs[op][1]["spec"]["template"]["spec"]["containers"][0])
        for op in cts_steps
    )


def test_run_pods_get_no_family_secret(rendered, variant, launcher_for):
    shared, _ = secret_refs(rendered)
    image, context = container_context(rendered)
    job = run_job(dagster_run("__ASSET_JOB", image, context), launcher_for(variant))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert secrets_of(container) == shared | INSTANCE_SECRETS
    assert job["spec"]["template"]["metadata"]["labels"]["data-platform/role"] == "run"


def test_program_container_gets_no_secret(rendered, variant_report):
    shared, _ = secret_refs(rendered)
    (pod,) = variant_report["program_pods"].values()
    containers = {c["name"]: c for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]}
    assert secrets_of(containers["program"]) == set()
    assert secrets_of(containers["stage-in"]) == secrets_of(containers["publish"]) == shared
    assert pod["metadata"]["annotations"]["eks.amazonaws.com/skip-containers"] == "program"


# ---- egress (production values) ---------------------------------------------------------


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if (
            (operator == "In" and labels.get(key) not in values)
            or (operator == "NotIn" and labels.get(key) in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def allowed_egress(policies: list[dict], labels: dict[str, str]) -> list[dict] | None:
    """The egress rules of every policy selecting the pod (None: no policy, so unrestricted)."""
    selecting = [
        p for p in policies if "Egress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)
    ]
    if not selecting:
        return None
    return [rule for p in selecting for rule in p["spec"].get("egress") or []]


def test_every_platform_pod_has_only_the_egress_it_needs(manifests_for, report_for, launcher_for, kubeconfig):
    """Production values: each kind of pod is selected by egress policies allowing exactly its
    calls (DNS and the object store for all; the instance database for Dagster's pods; the API
    for run pods and the Kalman step; each family's services for its steps only)."""
    production, report = manifests_for("production"), report_for("production")
    step_jobs = build_step_jobs(production, report, launcher_for("production"), kubeconfig)
    variant_report = report
    egress = merged_values([CHART / "values.yaml", PRODUCTION_VALUES])["networkPolicy"]["egress"]
    policies = by_kind(production, "NetworkPolicy")
    common = [*egress["dns"], *egress["objectStore"]]
    api, database = egress["kubernetesApi"], egress["instanceDatabase"]

    def rules(labels):
        allowed = allowed_egress(policies, labels)
        assert allowed is not None, f"no egress policy selects a pod labelled {labels}"
        return allowed

    (deployment,) = by_kind(production, "Deployment")
    code_server = rules(deployment["spec"]["template"]["metadata"]["labels"])
    assert all(r in code_server for r in [*common, *database, *egress["codeServer"]])
    assert not any(r in code_server for r in api), "the code server never calls the API"

    image, context = container_context(production)
    run = run_job(dagster_run("__ASSET_JOB", image, context), launcher_for("production"))
    run_rules = rules(run["spec"]["template"]["metadata"]["labels"])
    assert all(r in run_rules for r in [*common, *database, *api])

    (program_pod,) = variant_report["program_pods"].values()
    assert rules(program_pod["metadata"]["labels"]) == common, "a program pod reaches names and storage only"

    for op, (step, job) in step_jobs.items():
        family = family_label(job, step)
        step_rules = rules(job["spec"]["template"]["metadata"]["labels"])
        spec = egress["families"].get(family, {}) if family else {}
        expected = [*common, *database, *(spec.get("egress") or []), *(api if spec.get("kubernetesApi") else [])]
        canonical = functools.partial(json.dumps, sort_keys=True)
        assert sorted(map(canonical, step_rules)) == sorted(map(canonical, expected)), op
        for other, other_spec in egress["families"].items():
            if other != family:
                assert not [r for r in other_spec.get("egress") or [] if r not in expected and r in step_rules], op
    posterior = rules(step_jobs["kalman__posterior"][1]["spec"]["template"]["metadata"]["labels"])
    assert all(r in posterior for r in api), "the Kalman step starts its program pod"
    nlp = [job for step, job in step_jobs.values() if family_of_step(step) == "nlp"]
    assert nlp and not any(r in rules(nlp[0]["spec"]["template"]["metadata"]["labels"]) for r in api)
