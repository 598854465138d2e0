"""The code location loads, validates with Dagster's own CLI, and stays light."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from resources.lazy_imports import HEAVY_LIBRARIES
from resources.shared.images import declared_images

pytestmark = pytest.mark.slow  # fresh interpreters and the dagster CLI

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_dagster_definitions_validate():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_loading_the_code_location_imports_no_heavy_library():
    heavy = HEAVY_LIBRARIES
    probe = f"import sys, platform_assets.definitions; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()
    assert loaded == []


def test_k8s_mode_uses_the_k8s_job_executor(tmp_path):
    """Definitions load without a cluster in k8s mode; images must then be digests."""
    probe = "import platform_assets.definitions as d; print(d.defs.executor.name)"
    env = {**os.environ, "PLATFORM_ENV": "k8s", "PLATFORM_HOME": str(tmp_path)}
    for name in declared_images():  # built or not: the images a deployment would pin
        env[f"PLATFORM_IMAGE_{name.upper()}"] = f"registry.example/{name}@sha256:{'0' * 64}"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "k8s"


def test_runs_print_info_not_debug_to_the_console(capfd):
    """The local instance (dagster.yaml) logs runs to the console at INFO; DEBUG events stay
    in the event log (the `make dev` terminal showed every step event before)."""
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())

    @dg.asset
    def chatty(context) -> None:
        context.log.info("an info line for the terminal")

    with dg.instance_for_test(overrides={"python_logs": config["python_logs"]}) as instance:
        assert dg.materialize([chatty], instance=instance).success
    printed = capfd.readouterr().err
    assert "an info line for the terminal" in printed
    assert "DEBUG" not in printed and "STEP_START" not in printed
