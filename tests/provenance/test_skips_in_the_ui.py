"""Skips users can trust in the UI (issue 11, item 4), on a real (SQLite) instance.

Dagster skips every step downstream of a step that yielded nothing in the same run. These
tests pin what the platform does instead: an unchanged asset hands its output on when a
selected child or check needs it (re-recording its latest materialization, same data
version, saying so), reuses check results when nothing changed, and otherwise records
nothing; a lost output is recomputed.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from platform_assets.provenance import (
    REASON_METADATA_KEY,
    RERECORDED_METADATA_KEY,
    content_version,
    partition_decisions,
    partition_materialization,
    versioned_asset,
    versioned_check,
)
from platform_assets.provenance.checks import REUSED_FROM_RUN_KEY
from platform_assets.provenance.dagster_internals import BACKFILL_ID_TAG, latest_check_evaluation

pytestmark = pytest.mark.slow  # whole Dagster runs on a real instance: seconds per test


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def materializations(instance: dg.DagsterInstance, path: str, partition: str | None = None) -> list:
    return list(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey.from_user_string(path), asset_partitions=[partition] if partition else None
            ),
            limit=100,
        ).records
    )


class Graph:
    """parent_a -> child <- parent_b, each counting its computations; `child` can be
    redefined (a code change) and the parents' content set by the test."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.a = self.parent("a", "a1")
        self.b = self.parent("b", "b1")
        self.child = self.child_version("x + y")

    def parent(self, name: str, content: str) -> dg.AssetsDefinition:
        """A parent whose code produces `content` (another content: another code version)."""
        calls = self.calls

        @versioned_asset(key=["ui", f"parent_{name}"], externals={"content": content})
        def parent(context: dg.AssetExecutionContext):
            calls.append(name)
            return dg.MaterializeResult(data_version=content_version(content))

        return parent

    def child_version(self, logic: str) -> dg.AssetsDefinition:
        calls = self.calls
        namespace: dict = {}
        exec(f"def combine(x, y):\n    return {logic}\n", namespace)  # stands for an edit of the code
        combine = namespace["combine"]

        @versioned_asset(key=["ui", "child"], deps=[self.a, self.b], externals={"logic": logic})
        def child(context: dg.AssetExecutionContext):
            calls.append("child")
            return dg.MaterializeResult(metadata={"combined": combine(1, 2)})

        return child

    def run(self, instance: dg.DagsterInstance, **kwargs) -> dg.ExecuteInProcessResult:
        result = dg.materialize([self.a, self.b, self.child], instance=instance, **kwargs)
        assert result.success
        return result


def test_materialize_all_computes_a_changed_child_of_an_unchanged_parent(instance):
    """Before: the child's step was skipped with its unchanged parents, the run reported
    SUCCESS, and repeating it never repaired it."""
    graph = Graph()
    graph.run(instance)
    graph.child = graph.child_version("x * y")  # a code change in the child only
    graph.calls.clear()
    graph.run(instance)
    assert graph.calls == ["child"], "the parents must not recompute, the child must"
    for parent in ("ui/parent_a", "ui/parent_b"):
        latest, first = materializations(instance, parent)
        assert latest.asset_materialization.metadata[RERECORDED_METADATA_KEY].value is True
        assert "ui/child can compute" in latest.asset_materialization.metadata[REASON_METADATA_KEY].value
        assert (
            latest.asset_materialization.tags["dagster/data_version"]
            == (first.asset_materialization.tags["dagster/data_version"])
        )
    assert "code version changed" in (
        materializations(instance, "ui/child")[0].asset_materialization.metadata[REASON_METADATA_KEY].value
    )


def test_materialize_all_computes_the_child_when_a_second_parent_changed(instance):
    """Before: the child's step was skipped because parent_a yielded nothing, although
    parent_b's data changed in the same run."""
    graph = Graph()
    graph.run(instance)
    graph.b = graph.parent("b", "b2")  # new code, new data
    graph.calls.clear()
    graph.run(instance)
    assert graph.calls == ["b", "child"]
    assert "upstream recomputed in this run: ui/parent_b" in (
        materializations(instance, "ui/parent_a")[0].asset_materialization.metadata[REASON_METADATA_KEY].value
    )
    latest = materializations(instance, "ui/child")[0].asset_materialization
    assert "upstream data version changed: ui/parent_b" in latest.metadata[REASON_METADATA_KEY].value


def test_materialize_all_with_nothing_changed_records_nothing(instance):
    graph = Graph()
    graph.run(instance)
    graph.calls.clear()
    graph.run(instance)
    assert graph.calls == []
    for path in ("ui/parent_a", "ui/parent_b", "ui/child"):
        assert len(materializations(instance, path)) == 1


def test_a_lost_output_is_recomputed(instance, tmp_path):
    calls = []
    output = tmp_path / "output.txt"

    def output_missing(resources, materialization: dg.AssetMaterialization) -> str | None:
        return None if output.exists() else f"{output} is gone"

    @versioned_asset(key=["ui", "file"], output_missing=output_missing)
    def file(context: dg.AssetExecutionContext):
        calls.append(1)
        output.write_text("result")

    for _ in range(2):
        assert dg.materialize([file], instance=instance).success
    assert len(calls) == 1
    output.unlink()
    assert dg.materialize([file], instance=instance).success
    assert len(calls) == 2 and output.exists()
    reason = materializations(instance, "ui/file")[0].asset_materialization.metadata[REASON_METADATA_KEY].value
    assert reason == f"recorded output missing: {output} is gone"


# ---- checks after a no-op --------------------------------------------------------------
class Checked:
    def __init__(self, tmp_path: Path, threshold: int = 10, plain_check: bool = False) -> None:
        self.calls: list[str] = []
        calls = self.calls

        @versioned_asset(key=["ui", "checked"])
        def checked(context: dg.AssetExecutionContext):
            calls.append("asset")
            return dg.MaterializeResult(data_version=content_version("same"), metadata={"value": 7})

        @versioned_check(asset=checked)
        def small_enough(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
            calls.append("small_enough")
            return dg.AssetCheckResult(passed=threshold > 7, metadata={"threshold": threshold})

        checks: list = [small_enough]
        if plain_check:

            @dg.asset_check(asset=checked)
            def plain(context):
                calls.append("plain")
                return dg.AssetCheckResult(passed=True)

            checks.append(plain)
        self.assets = [checked, *checks]

    def run(self, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
        result = dg.materialize(self.assets, instance=instance)
        assert result.success
        return result


def check_status(instance: dg.DagsterInstance, name: str) -> tuple[str, dict]:
    """The status the UI shows for a check: its latest execution in any run."""
    key = dg.AssetCheckKey(dg.AssetKey(["ui", "checked"]), name)
    (record,) = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
    evaluation = record.evaluation if record.status.value != "PLANNED" else None
    metadata = {k: v.value for k, v in evaluation.metadata.items()} if evaluation else {}
    return record.status.value, metadata


def test_checks_keep_their_result_after_a_no_op(instance, tmp_path):
    """Before: the check step was skipped with the asset and the catalog read 0/1 passed."""
    checked = Checked(tmp_path)
    first = checked.run(instance)
    second = checked.run(instance)
    assert checked.calls == ["asset", "small_enough"], "nothing recomputed, the check not re-run"
    assert len(materializations(instance, "ui/checked")) == 1, "a no-op records no materialization"
    status, metadata = check_status(instance, "small_enough")
    assert status == "SUCCEEDED"
    assert metadata[REUSED_FROM_RUN_KEY] == first.run_id
    key = dg.AssetCheckKey(dg.AssetKey(["ui", "checked"]), "small_enough")
    assert instance.event_log_storage.get_asset_check_execution_history(key, limit=1)[0].run_id == second.run_id


def test_a_failing_check_still_fails_after_a_no_op(instance, tmp_path):
    checked = Checked(tmp_path, threshold=5)
    checked.run(instance)
    checked.run(instance)
    assert check_status(instance, "small_enough")[0] == "FAILED"


def test_a_changed_check_runs_again_on_the_handed_on_output(instance, tmp_path):
    Checked(tmp_path, threshold=10).run(instance)
    changed = Checked(tmp_path, threshold=5)  # new check logic (a closure constant)
    changed.run(instance)
    assert changed.calls == ["small_enough"], "the asset is unchanged, the changed check runs"
    assert check_status(instance, "small_enough")[0] == "FAILED"
    latest = materializations(instance, "ui/checked")[0].asset_materialization
    assert latest.metadata[RERECORDED_METADATA_KEY].value is True


def test_a_check_without_version_runs_again_on_the_handed_on_output(instance, tmp_path):
    checked = Checked(tmp_path, plain_check=True)
    checked.run(instance)
    checked.run(instance)
    assert checked.calls.count("plain") == 2 and checked.calls.count("asset") == 1
    assert check_status(instance, "small_enough")[0] == "SUCCEEDED"


# ---- backfills ---------------------------------------------------------------------------
def test_an_unchanged_partition_in_a_backfill_run_is_re_recorded(instance):
    """A backfill counts a partition as done only if its run materialized it: in a backfill
    run an unchanged partition re-records its latest materialization (same data version)."""
    calls = []

    @versioned_asset(key=["ui", "daily"], partitions_def=dg.StaticPartitionsDefinition(["a", "b"]))
    def daily(context: dg.AssetExecutionContext):
        calls.append(context.partition_key)
        return dg.MaterializeResult(data_version=content_version(context.partition_key))

    assert dg.materialize([daily], instance=instance, partition_key="a").success
    assert dg.materialize([daily], instance=instance, partition_key="a", tags={BACKFILL_ID_TAG: "bf1"}).success
    assert calls == ["a"]
    latest, first = materializations(instance, "ui/daily", "a")
    assert latest.asset_materialization.metadata[RERECORDED_METADATA_KEY].value is True
    assert "backfill bf1" in latest.asset_materialization.metadata[REASON_METADATA_KEY].value
    assert (
        latest.asset_materialization.tags["dagster/data_version"]
        == (first.asset_materialization.tags["dagster/data_version"])
    )


def test_latest_check_evaluation_reads_completed_results_only(instance, tmp_path):
    checked = Checked(tmp_path)
    assert (
        latest_check_evaluation(instance, dg.AssetCheckKey(dg.AssetKey(["ui", "checked"]), "small_enough"), None)
        is None
    )
    checked.run(instance)
    evaluation, run_id = latest_check_evaluation(
        instance, dg.AssetCheckKey(dg.AssetKey(["ui", "checked"]), "small_enough"), None
    )
    assert evaluation.passed and run_id


def test_unchanged_partitions_of_a_ranged_backfill_run_are_re_recorded(instance):
    """The same for assets deciding per partition inside one run over many partitions."""
    calls = []

    @versioned_asset(
        key=["ui", "ranged"],
        partitions_def=dg.StaticPartitionsDefinition(["a", "b"]),
        backfill_policy=dg.BackfillPolicy.single_run(),
        decides_per_partition=True,
    )
    def ranged(context: dg.AssetExecutionContext):
        for decision in partition_decisions(context):
            if decision.compute:
                calls.append(decision.partition_key)
                yield partition_materialization(context, decision, data_version=content_version(decision.partition_key))

    everything = {"dagster/asset_partition_range_start": "a", "dagster/asset_partition_range_end": "b"}
    assert dg.materialize([ranged], instance=instance, tags=everything).success
    assert dg.materialize([ranged], instance=instance, tags=everything).success
    assert [len(materializations(instance, "ui/ranged", p)) for p in "ab"] == [1, 1], "a plain no-op records nothing"
    assert dg.materialize([ranged], instance=instance, tags={**everything, BACKFILL_ID_TAG: "bf2"}).success
    assert calls == ["a", "b"]
    for partition in "ab":
        latest, first = materializations(instance, "ui/ranged", partition)
        assert latest.asset_materialization.metadata[RERECORDED_METADATA_KEY].value is True
        assert (
            latest.asset_materialization.tags["dagster/data_version"]
            == (first.asset_materialization.tags["dagster/data_version"])
        )
