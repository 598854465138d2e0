"""Proof by tracing: every project function a step executes is inside the hashed closure of
what the step runs (the asset's or check's function), or on the one reviewed
execution-only list (`platform_assets/provenance/execution_only.py`).

The slow test runs every asset and check of the real code location (`make dev`'s demo
data: the families' own `seed_demo`, a real CTS emulator, Spark, Dask, the external Kalman
program) twice: once computing, once unchanged (the skip path runs the output checks and
the check reuse). The fast tests show the tracer catching what static analysis cannot see.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.provenance import closure_names, versioned_asset
from platform_assets.provenance.code_version import PROJECT_ROOT
from platform_assets.provenance.tracing import NO_STEP, StepTracer, escapes, escapes_by_step
from tests.provenance.conftest import all_resources
from tests.provenance.project_copy import PACKAGE, load_asset_function

# product code only: the tests' own code and the emulated CTS (localdev) are not steps' code
PRODUCT_ROOTS = [PROJECT_ROOT / name for name in ("platform_assets", "resources", "sensors")]

HELPERS = """
def named(value):
    return value + 1


def hidden(value):
    return value * 2
"""
ASSETS = """
import importlib

from provenance_sample import helpers


def by_name(context):
    return helpers.named(1)


def by_lookup(context):
    # a registry filled at run time: static analysis cannot know which function runs
    module = importlib.import_module("provenance_sample.helpers")
    return getattr(module, "hid" + "den")(1)
"""


def traced_escapes(tmp_path: Path, function: str) -> list[str]:
    root = tmp_path / function
    fn = load_asset_function(root, {"helpers.py": HELPERS, "assets.py": ASSETS}, "assets", function)
    asset = versioned_asset(key=["sample", function])(fn)
    with dg.instance_for_test() as instance, StepTracer(roots=[root]) as tracer:
        assert dg.materialize([asset], instance=instance).success
    (executed,) = tracer.executed.values()
    assert f"{PACKAGE}.assets:{function}" in executed
    return escapes(executed, closure_names(fn, roots=[root]))


def test_a_helper_reached_by_name_is_inside_the_closure(tmp_path):
    assert traced_escapes(tmp_path, "by_name") == []


def test_the_tracer_catches_a_helper_that_escapes_the_closure(tmp_path):
    """A function found at run time (a registry, getattr) runs but is not hashed: an edit
    of it would change the output without changing the code version. The tracer sees it."""
    assert traced_escapes(tmp_path, "by_lookup") == [f"{PACKAGE}.helpers:hidden"]


# ---- every asset and check of the code location --------------------------------------
def runs(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[tuple[list, dict]]:
    """(assets and checks, materialize() arguments) for one run of every asset."""
    from platform_assets.nlp.partitions import all_recipients_range

    by_key = {item.key: item for item in defs.assets or () if isinstance(item, dg.AssetsDefinition)}
    checks: dict[dg.AssetKey, list] = {}
    for item in defs.asset_checks or ():
        for check_key in item.check_keys:
            checks.setdefault(check_key.asset_key, []).append(item)
    specs = [item for item in defs.assets or () if isinstance(item, dg.AssetSpec)]

    def of(path: str) -> list:
        key = dg.AssetKey.from_user_string(path)
        return [by_key[key], *checks.get(key, [])]

    recipients = all_recipients_range(instance)
    assert recipients is not None
    instance.add_dynamic_partitions("kalman_cases", ["demo-smooth"])
    small = {"ops": {"propagation__trajectory": {"config": {"ensemble_size": 32, "chunk_size": 16}}}}
    return [
        ([*specs, *of("kalman/posterior")], {"partition_key": "demo-smooth"}),
        (of("cts/checkm2"), {"partition_key": "demo-checkm2-1"}),
        (of("cts/gtdbtk"), {"partition_key": "demo-gtdbtk-1"}),
        (
            of("nlp/goal_similarity_groups"),
            {
                "tags": {
                    "dagster/asset_partition_range_start": recipients.start,
                    "dagster/asset_partition_range_end": recipients.end,
                }
            },
        ),
        (of("propagation/trajectory"), {"partition_key": "500", "run_config": small}),
    ]


def closures_by_step(defs: dg.Definitions) -> dict[str, frozenset[str]]:
    from platform_assets.provenance import dagster_internals as internals
    from platform_assets.provenance import provenance_of
    from platform_assets.provenance.checks import check_provenance_of

    closures = {}
    for item in defs.assets or ():
        if not isinstance(item, dg.AssetsDefinition):
            continue
        observe = internals.observe_function(item)
        if observe is not None:  # an observable source: the closure of its observation function
            closures[item.node_def.name] = closure_names(observe, resource_keys=item.required_resource_keys)
        elif item.is_executable:
            spec = provenance_of(item)
            assert spec is not None, f"{item.key.to_user_string()}: assets are declared with versioned_asset"
            closures[item.node_def.name] = spec.closure
    for item in defs.asset_checks or ():
        check_spec = check_provenance_of(item)
        assert check_spec is not None, f"{item.check_keys}: checks are declared with versioned_check"
        closures[item.node_def.name] = check_spec.closure
    return closures


@pytest.mark.slow
def test_every_asset_and_check_runs_inside_its_closure(demo_world):
    """Invariant: for each step of each asset and check of the code location, computing or
    unchanged, executed project functions ⊆ closure ∪ execution-only."""
    warnings.simplefilter("ignore")
    from platform_assets.definitions import defs
    from platform_assets.nlp.assets import goals

    instance = demo_world
    resources = all_resources()
    plan = runs(defs, instance)
    with StepTracer(roots=PRODUCT_ROOTS) as tracer:
        observed = dg.materialize([goals], selection=[goals], instance=instance, resources=resources)
        assert observed.success
        for _ in ("computing", "unchanged"):
            for assets, arguments in plan:
                result = dg.materialize(assets, instance=instance, resources=resources, **arguments)
                assert result.success
    closures = closures_by_step(defs)
    ran = set(tracer.executed) - {NO_STEP}
    assert ran == set(closures), f"steps without a closure / that did not run: {ran ^ set(closures)}"
    assert escapes_by_step(tracer.executed, closures) == {}
    covered = {key for item in defs.assets or () for key in getattr(item, "keys", [getattr(item, "key", None)])}
    for step, names in sorted(tracer.executed.items()):
        print(f"step {step}: {len(names)} project functions executed, closure {len(closures.get(step, ()))}")
    print(f"tracing covered {len(covered)} assets and {len(list(defs.asset_checks or ()))} check definitions")
