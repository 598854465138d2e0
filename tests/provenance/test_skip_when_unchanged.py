"""The execution rows of the provenance contract: count real computations and
materializations on a real (ephemeral) Dagster instance."""

from __future__ import annotations

import dagster as dg
import pytest

from platform_assets.provenance import FORCE_TAG, content_version, versioned_asset

pytestmark = pytest.mark.slow  # whole Dagster runs on a real instance: seconds per test


class Sample:
    """A two-asset graph whose upstream content the test controls."""

    def __init__(self) -> None:
        self.source_text = "v1"
        self.calls: list[str] = []
        sample = self

        @versioned_asset(key=["sample", "upstream"])
        def upstream(context: dg.AssetExecutionContext):
            sample.calls.append("upstream")
            return dg.MaterializeResult(data_version=content_version(sample.source_text))

        @versioned_asset(key=["sample", "downstream"], deps=[upstream])
        def downstream(context: dg.AssetExecutionContext):
            sample.calls.append("downstream")

        self.assets = [upstream, downstream]

    def materialize(self, instance, selection=None, tags=None):
        result = dg.materialize(self.assets, instance=instance, selection=selection, tags=tags)
        assert result.success
        return result


def materialization_count(instance: dg.DagsterInstance, *path: str, partition=None) -> int:
    return len(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(list(path)),
                asset_partitions=[partition] if partition else None,
            ),
            limit=100,
        ).records
    )


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def test_first_materialization_computes_everything(instance):
    sample = Sample()
    sample.materialize(instance)
    assert sample.calls == ["upstream", "downstream"]
    assert materialization_count(instance, "sample", "downstream") == 1


def test_nothing_changed_means_no_compute_and_no_new_materialization(instance):
    sample = Sample()
    sample.materialize(instance)
    sample.materialize(instance)
    assert sample.calls == ["upstream", "downstream"]
    assert materialization_count(instance, "sample", "upstream") == 1
    assert materialization_count(instance, "sample", "downstream") == 1


def test_upstream_rematerialized_with_same_data_version_does_not_recompute_downstream(instance):
    sample = Sample()
    sample.materialize(instance)
    sample.materialize(instance, selection=["sample/upstream"], tags={FORCE_TAG: "true"})
    assert materialization_count(instance, "sample", "upstream") == 2
    sample.materialize(instance, selection=["sample/downstream"])
    assert sample.calls == ["upstream", "downstream", "upstream"]
    assert materialization_count(instance, "sample", "downstream") == 1


def test_upstream_data_change_recomputes_downstream(instance):
    sample = Sample()
    sample.materialize(instance)
    sample.source_text = "v2"
    sample.materialize(instance, selection=["sample/upstream"], tags={FORCE_TAG: "true"})
    sample.materialize(instance, selection=["sample/downstream"])
    assert sample.calls == ["upstream", "downstream", "upstream", "downstream"]
    assert materialization_count(instance, "sample", "downstream") == 2


def test_force_tag_recomputes_and_records_it(instance):
    sample = Sample()
    sample.materialize(instance)
    sample.materialize(instance, tags={FORCE_TAG: "true"})
    assert sample.calls == ["upstream", "downstream"] * 2
    latest = instance.get_latest_materialization_event(dg.AssetKey(["sample", "downstream"]))
    metadata = latest.asset_materialization.metadata
    assert metadata["platform/forced"].value is True
    assert "forced" in metadata["platform/reason"].value
    first = instance.fetch_materializations(dg.AssetKey(["sample", "downstream"]), limit=2, ascending=True)
    assert first.records[0].asset_materialization.metadata["platform/forced"].value is False


def test_code_change_recomputes(instance):
    calls = []

    @versioned_asset(key=["sample", "evolving"])
    def first(context: dg.AssetExecutionContext):
        calls.append(1)

    @versioned_asset(key=["sample", "evolving"])
    def second(context: dg.AssetExecutionContext):
        calls.append(2)

    for assets_def in (first, first, second, second):
        assert dg.materialize([assets_def], instance=instance).success
    assert calls == [1, 2]


def test_stochastic_output_carries_a_logical_version_so_noise_does_not_cascade(instance):
    """An upstream without a content version (random output) gets Dagster's logical
    version = hash(code version, input versions): a forced rerun does not move it."""
    import random

    downstream_calls = []

    @versioned_asset(key=["sample", "noisy"])
    def noisy(context: dg.AssetExecutionContext):
        return dg.MaterializeResult(metadata={"draw": random.random()})

    @versioned_asset(key=["sample", "consumer"], deps=[noisy])
    def consumer(context: dg.AssetExecutionContext):
        downstream_calls.append(1)

    assert dg.materialize([noisy, consumer], instance=instance).success
    assert dg.materialize([noisy], instance=instance, tags={FORCE_TAG: "true"}).success
    assert dg.materialize([consumer], instance=instance, selection=[consumer]).success
    assert downstream_calls == [1]
    versions = [
        r.asset_materialization.tags["dagster/data_version"]
        for r in instance.fetch_materializations(dg.AssetKey(["sample", "noisy"]), limit=5).records
    ]
    assert len(versions) == 2 and len(set(versions)) == 1


def test_skip_is_per_partition(instance):
    calls = []
    partitions = dg.StaticPartitionsDefinition(["a", "b"])

    @versioned_asset(key=["sample", "per_partition"], partitions_def=partitions)
    def per_partition(context: dg.AssetExecutionContext):
        calls.append(context.partition_key)

    for key in ("a", "a", "b", "a", "b"):
        assert dg.materialize([per_partition], instance=instance, partition_key=key).success
    assert calls == ["a", "b"]
    assert materialization_count(instance, "sample", "per_partition", partition="a") == 1


def test_returned_values_still_reach_the_io_manager(instance):
    @versioned_asset(key=["sample", "value"])
    def value(context: dg.AssetExecutionContext):
        return {"answer": 42}

    @versioned_asset(key=["sample", "reader"])
    def reader(context: dg.AssetExecutionContext, value):
        return value["answer"] + 1

    result = dg.materialize([value, reader], instance=instance)
    assert result.output_for_node("sample__reader") == 43


class ScaleConfig(dg.Config):
    scale: int = 1


def test_run_config_is_provenance_and_reaches_downstream(instance):
    calls = []

    @versioned_asset(key=["sample", "configured"])
    def configured(context: dg.AssetExecutionContext, config: ScaleConfig):
        calls.append(("configured", config.scale))

    @versioned_asset(key=["sample", "after_configured"], deps=[configured])
    def after_configured(context: dg.AssetExecutionContext):
        calls.append(("after", None))

    def run(scale):
        config = dg.RunConfig({"sample__configured": ScaleConfig(scale=scale)})
        assert dg.materialize([configured, after_configured], instance=instance, run_config=config).success

    run(1)
    run(1)
    assert calls == [("configured", 1), ("after", None)]
    run(2)
    assert calls[2:] == [("configured", 2), ("after", None)]
    latest = instance.get_latest_materialization_event(dg.AssetKey(["sample", "configured"]))
    assert "run config changed" in latest.asset_materialization.metadata["platform/reason"].value


class PlanConfig(dg.Config):
    scale: int = 1
    workers: int = 1  # how, not what: declared execution-only below


def test_execution_only_config_is_not_provenance(instance):
    calls = []

    @versioned_asset(key=["sample", "planned"], execution_only_config=["workers"])
    def planned(context: dg.AssetExecutionContext, config: PlanConfig):
        calls.append((config.scale, config.workers))

    def run(**fields):
        config = dg.RunConfig({"sample__planned": PlanConfig(**fields)})
        assert dg.materialize([planned], instance=instance, run_config=config).success

    run(scale=1, workers=1)
    run(scale=1, workers=4)
    assert calls == [(1, 1)]
    run(scale=2, workers=4)
    assert calls == [(1, 1), (2, 4)]
