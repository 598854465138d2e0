"""Every Dagster internal the platform uses lives in `platform_assets/provenance/
dagster_internals.py`; this test exercises each of them on a real run, so a Dagster
upgrade that moves or changes one fails here, by name, and nowhere else. It also keeps
the rule: no other product module imports `dagster._`."""

from __future__ import annotations

import ast
from pathlib import Path

import dagster as dg

from platform_assets.provenance import content_version, versioned_asset, versioned_check
from platform_assets.provenance import dagster_internals as internals

REPO_ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("platform_assets", "resources", "sensors", "localdev", "programs")
# Dagster internals live in dagster_internals.py, except the instance's extension of Dagster's
# event-log storages: subclasses of its storage classes, loaded by the instance (daemon,
# webserver, run workers) and never by the code location, whose load they would slow.
INTERNALS_MODULES = {
    "platform_assets/provenance/dagster_internals.py",
    "platform_assets/runtime/event_storage.py",
    "platform_assets/runtime/postgres_event_storage.py",
    "platform_assets/runtime/instance.py",
}


def test_no_other_product_module_imports_dagster_internals():
    offenders = []
    for package in PRODUCT:
        for file in sorted((REPO_ROOT / package).rglob("*.py")):
            if str(file.relative_to(REPO_ROOT)) in INTERNALS_MODULES:
                continue
            for node in ast.walk(ast.parse(file.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [f"{file.relative_to(REPO_ROOT)}: {n}" for n in names if n.startswith("dagster._")]
    assert offenders == []


def test_constants_keep_their_meaning():
    assert internals.CODE_VERSION_TAG == "dagster/code_version"
    assert internals.DATA_VERSION_TAG == "dagster/data_version"
    assert internals.get_input_data_version_tag(dg.AssetKey(["a", "b"])) == "dagster/input_data_version/a/b"
    assert dg.DataVersion("INITIAL") == internals.DEFAULT_DATA_VERSION
    assert dg.DagsterRunStatus.STARTED in internals.NOT_FINISHED_STATUSES
    tags = (internals.PARTITION_NAME_TAG, internals.RUN_KEY_TAG, internals.SENSOR_NAME_TAG, internals.WILL_RETRY_TAG)
    assert tags == ("dagster/partition", "dagster/run_key", "dagster/sensor_name", "dagster/will_retry")
    assert dg.DagsterRunStatus.SUCCESS not in internals.NOT_FINISHED_STATUSES
    assert internals.CheckRunHealthResult(internals.WorkerStatus.RUNNING).status == internals.WorkerStatus.RUNNING
    error = internals.SerializableErrorInfo("message", [], "ValueError")
    assert error.cls_name == "ValueError"
    assert internals.StepFailureData(error=error, user_failure_data=None).error == error
    version = internals.compute_logical_data_version("code", {dg.AssetKey("a"): dg.DataVersion("v")})
    assert version == internals.compute_logical_data_version("code", {dg.AssetKey("a"): dg.DataVersion("v")})
    assert version != internals.compute_logical_data_version("code2", {dg.AssetKey("a"): dg.DataVersion("v")})


class Config(dg.Config):
    factor: int = 2


def test_step_internals_answer_on_a_real_run():
    seen: dict = {}

    @versioned_asset(key=["internals", "upstream"])
    def upstream(context: dg.AssetExecutionContext):
        return dg.MaterializeResult(data_version=content_version("up"))

    @versioned_asset(key=["internals", "downstream"], deps=[upstream])
    def downstream(context: dg.AssetExecutionContext, config: Config):
        seen["input"] = internals.input_data_version(context, upstream.key)
        seen["graph_children"] = internals.step_asset_graph(context).get(upstream.key).child_keys
        seen["node"] = internals.node_name_of(context, context.asset_key)
        seen["config"] = internals.resolved_op_config(context, seen["node"])
        seen["assets"] = internals.run_asset_selection(context)
        seen["checks"] = internals.run_check_selection(context)

    @versioned_check(asset=downstream)
    def passes(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    with dg.instance_for_test() as instance:
        assert dg.materialize([upstream, downstream, passes], instance=instance).success
        assert seen["input"] == content_version("up")
        assert seen["graph_children"] == {downstream.key}
        assert seen["node"] == "internals__downstream"
        assert seen["config"] == {"factor": 2}
        assert seen["assets"] == {upstream.key, downstream.key}
        assert seen["checks"] == {dg.AssetCheckKey(downstream.key, "passes")}
        assert internals.compute_function(downstream).__wrapped__.__name__ == "downstream"
        latest = internals.latest_check_evaluation(instance, dg.AssetCheckKey(downstream.key, "passes"), None)
        assert latest is not None and latest[0].passed


def test_batched_partition_materializations_and_backfills_on_a_real_instance():
    @dg.asset(
        partitions_def=dg.StaticPartitionsDefinition(["a", "b", "c"]),
        key=["internals", "letters"],
        output_required=False,
    )
    def letters(context):
        """Materializes only the first two partitions of its range, as one event batch."""
        internals.log_materializations_as_batch(
            context,
            [dg.AssetMaterialization(context.asset_key, partition=key) for key in context.partition_keys[:2]],
        )
        yield from ()

    assert internals.ASSET_PARTITION_RANGE_START_TAG == "dagster/asset_partition_range_start"
    assert internals.ASSET_PARTITION_RANGE_END_TAG == "dagster/asset_partition_range_end"
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [letters],
            instance=instance,
            tags={internals.ASSET_PARTITION_RANGE_START_TAG: "a", internals.ASSET_PARTITION_RANGE_END_TAG: "c"},
        )
        assert result.success
        assert instance.get_materialized_partitions(letters.key) == {"a", "b"}

        defs = dg.Definitions(assets=[letters])
        backfill_id = internals.submit_asset_backfill(
            instance, defs, letters.key, ["b", "c"], tags={"purpose": "test"}, title="t", description="d"
        )
        backfill = instance.get_backfill(backfill_id)
        assert backfill is not None and backfill.tags == {"purpose": "test"}
        target = backfill.asset_backfill_data.target_subset.get_partitions_subset(letters.key)
        assert set(target.get_partition_keys()) == {"b", "c"}


def test_an_observable_source_takes_owners_and_kinds_and_still_observes():
    partitions = dg.StaticPartitionsDefinition(["a", "b"])

    @dg.observable_source_asset(key=["internals", "source"], partitions_def=partitions)
    def observe(context):
        return dg.DataVersionsByPartition({"a": dg.DataVersion("1"), "b": dg.DataVersion("2")})

    source = internals.observable_source_with(observe, owners=["team:x"], kinds={"postgres"})
    spec = source.get_asset_spec(dg.AssetKey(["internals", "source"]))
    assert (list(spec.owners), set(spec.kinds)) == (["team:x"], {"postgres"})
    assert source.is_observable and internals.observe_function(source) is observe.observe_fn
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([source], selection=[source], instance=instance).success
    record = instance.get_latest_data_version_record(source.key, is_source=True, partition_key="b")
    assert record is not None and record.asset_observation is not None
    assert record.asset_observation.tags[internals.DATA_VERSION_TAG] == "2"
