"""Previewing what would recompute and why (issue 11, item 6): the prediction must match
what a run then really does, and the CLI must say it without running anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.provenance import content_version, versioned_asset
from platform_assets.provenance.preview import preview

pytestmark = pytest.mark.slow  # whole Dagster runs on a real instance: seconds per test

REPO_ROOT = Path(__file__).resolve().parents[2]


class Project:
    """upstream -> downstream, each redefinable (a code change). Computations are logged to
    a file: what a closure captures is hashed, so the functions capture only paths."""

    def __init__(self, folder: Path) -> None:
        self.log = folder / "calls.txt"
        self.output = folder / "out.txt"
        self.upstream = self.upstream_version("v1")
        self.downstream = self.downstream_version("x")

    def upstream_version(self, content: str) -> dg.AssetsDefinition:
        log = self.log

        @versioned_asset(key=["preview", "upstream"], externals={"content": content})
        def upstream(context: dg.AssetExecutionContext):
            with log.open("a") as handle:
                handle.write("upstream\n")
            return dg.MaterializeResult(data_version=content_version(content))

        return upstream

    def downstream_version(self, code: str) -> dg.AssetsDefinition:
        log, output = self.log, self.output

        def output_missing(resources, materialization) -> str | None:
            return None if output.exists() else "output file gone"

        @versioned_asset(
            key=["preview", "downstream"], deps=[self.upstream], externals={"code": code}, output_missing=output_missing
        )
        def downstream(context: dg.AssetExecutionContext):
            with log.open("a") as handle:
                handle.write("downstream\n")
            output.write_text("done")

        return downstream

    def defs(self) -> dg.Definitions:
        return dg.Definitions(assets=[self.upstream, self.downstream])

    def predicted(self, instance: dg.DagsterInstance) -> dict[str, str]:
        return {p.asset: p.reason for p in preview(self.defs(), instance, resources=object()) if p.recompute}

    def run(self, instance: dg.DagsterInstance) -> list[str]:
        self.log.write_text("")
        assert dg.materialize([self.upstream, self.downstream], instance=instance).success
        return self.log.read_text().split()


def test_the_preview_predicts_what_materialize_all_does(tmp_path):
    """Invariant: the assets the preview lists are exactly those the next run computes."""
    project = Project(tmp_path)
    with dg.instance_for_test() as instance:
        predicted = project.predicted(instance)
        assert predicted == {"preview/upstream": "never materialized", "preview/downstream": "never materialized"}
        assert sorted(project.run(instance)) == ["downstream", "upstream"]

        assert project.predicted(instance) == {}
        assert project.run(instance) == []

        project.downstream = project.downstream_version("y")  # new code
        predicted = project.predicted(instance)
        assert list(predicted) == ["preview/downstream"] and predicted["preview/downstream"].startswith(
            "code version changed"
        )
        assert project.run(instance) == ["downstream"]

        project.upstream = project.upstream_version("v2")  # new upstream code: new data version
        project.downstream = project.downstream_version("y")
        predicted = project.predicted(instance)
        assert predicted == {
            "preview/upstream": predicted["preview/upstream"],
            "preview/downstream": "upstream recomputed in this run: preview/upstream",
        }
        assert project.run(instance) == ["upstream", "downstream"]

        project.output.unlink()
        assert project.predicted(instance) == {"preview/downstream": "recorded output missing: output file gone"}
        assert project.run(instance) == ["downstream"]
        assert project.predicted(instance) == {}


def test_the_command_line_lists_partitions_and_reasons_without_running(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    state = tmp_path / "state"
    state.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "SKIP_STATE_DIR": str(state), "PYTHONPATH": str(REPO_ROOT)}
    os.environ["SKIP_STATE_DIR"] = str(state)
    from tests.provenance import skip_location

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert dg.materialize([skip_location.daily], instance=instance, partition_key="p1").success
    done = subprocess.run(
        [sys.executable, "-m", "platform_assets.provenance.preview"]
        + ["--definitions", "tests.provenance.skip_location:defs", "--all", "--json"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = {
        (r["asset"], r["partition"]): (r["recompute"], r["reason"])
        for r in map(json.loads, done.stdout.split("\n")[:-1])
    }
    assert rows == {
        ("skip/daily", "p1"): (False, "unchanged: same code version, config and upstream data versions"),
        ("skip/daily", "p2"): (True, "never materialized"),
        ("skip/daily", "p3"): (True, "never materialized"),
        ("skip/table", None): (True, "never materialized"),
    }
    assert "3 would recompute, 1 unchanged" in done.stderr
    assert len(list((state).glob("*.count"))) == 1, "previewing ran nothing"
