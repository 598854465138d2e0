"""The trajectory asset on a real Dagster instance: partitions, skip, resume, outputs, check."""

import json
import warnings

import dagster as dg
import numpy as np
import pytest

from platform_assets.propagation.assets import trajectory
from platform_assets.propagation.checks import energy_drift
from platform_assets.propagation.definitions import request_propagation_steps
from platform_assets.propagation.demo import DEMO_STEPS, seed_demo
from platform_assets.propagation.ensemble import RunState
from platform_assets.propagation.model import PropagationInputError
from platform_assets.propagation.partitions import parse_steps, propagation_steps, request_steps
from resources.propagation.dask import DaskResource
from resources.settings import settings

pytestmark = pytest.mark.slow  # whole runs on a Dask cluster

warnings.filterwarnings("ignore", category=dg.PreviewWarning)

ASSET_OP = "propagation__trajectory"
CHECK_OP = "propagation__trajectory_energy_drift"
SMALL = {"ensemble_size": 12, "chunk_size": 4, "use_dask": False}


def materialize(instance, blob, steps, check=False, check_config=None, dask=None, **config):
    ops = {ASSET_OP: {"config": {**SMALL, **config}}}
    if check:
        ops[CHECK_OP] = {"config": check_config or {}}
    return dg.materialize(
        [trajectory, energy_drift] if check else [trajectory],
        instance=instance,
        partition_key=str(steps),
        resources={"blob": blob, "dask": dask or DaskResource(n_workers=2, processes=False)},
        run_config={"ops": ops},
        raise_on_error=False,
    )


def materializations(instance, steps):
    return instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=trajectory.key, asset_partitions=[str(steps)]), limit=100
    ).records


def metadata(instance, steps):
    return {k: v.value for k, v in materializations(instance, steps)[0].asset_materialization.metadata.items()}


def stored_run(blob, instance, steps) -> RunState:
    return RunState.from_npz(blob.read_bytes(f"{metadata(instance, steps)['blob_prefix']}/state.npz"))


def test_outputs_are_published_to_blob_storage(instance, blob):
    request_steps(instance, 30)
    assert materialize(instance, blob, 30).success
    meta = metadata(instance, 30)
    assert meta["steps"] == 30 and meta["resumed_from_steps"] == 0
    assert "started from zero" in meta["resume"]
    prefix = meta["blob_prefix"]
    data = json.loads(blob.read_bytes(f"{prefix}/data.json"))
    assert len(data) == 31 and set(data[-1][2]) == {"Planet", "Satellite"}
    from platform_assets.propagation.records import read_parquet_bytes

    table = read_parquet_bytes(blob.read_bytes(f"{prefix}/records.parquet"))
    assert table.num_rows == 31 and table["t_high"][-1].as_py() == pytest.approx(0.3)
    moments = read_parquet_bytes(blob.read_bytes(f"{prefix}/moments.parquet"))
    assert moments.num_rows == 31
    assert blob.read_bytes(f"{prefix}/plot.png").startswith(b"\x89PNG")  # the full figure
    assert meta["plot_url"].endswith(f"{prefix}/plot.png")


def test_plot_metadata_renders_inline_in_the_dagster_ui(instance, blob):
    """Dagster 1.13 has no image metadata type and shows Markdown in place only below 1000
    characters (longer: behind "[Show Markdown]"): the plot is short Markdown holding an SVG."""
    from urllib.parse import unquote
    from xml.etree import ElementTree

    request_steps(instance, 300)
    assert materialize(instance, blob, 300).success
    [record] = materializations(instance, 300)
    plot = record.asset_materialization.metadata["plot"]
    assert isinstance(plot, dg.MarkdownMetadataValue)
    assert len(plot.value) < 1000
    image, legend = plot.value.split("\n\n")
    assert image.startswith("![orbit](data:image/svg+xml,") and image.endswith(")")
    svg = ElementTree.fromstring(unquote(image[len("![orbit](data:image/svg+xml,") : -1]))
    strokes = [shape.get("stroke") or shape.get("fill") for shape in svg]
    assert strokes == ["steelblue", "darkorange"]  # one track per body, in the legend's colours
    assert "Planet: steelblue" in legend and "Satellite: darkorange" in legend
    assert isinstance(record.asset_materialization.metadata["plot_url"], dg.UrlMetadataValue)


def test_the_original_latest_system_is_a_preset_and_data_json_has_its_web_layout(instance, blob):
    """Run config `system: body1_body2` (the UI's launchpad) propagates the original's latest
    default system; data.json frames read {agent: {position, velocity, mass, time, timeStep}}."""
    request_steps(instance, 10)
    assert materialize(instance, blob, 10, system="body1_body2").success
    meta = metadata(instance, 10)
    assert meta["system"] == "body1_body2"
    data = json.loads(blob.read_bytes(f"{meta['blob_prefix']}/data.json"))
    t_low, t_high, frame = data[0]
    assert (t_low, t_high) == (None, 0.0)
    assert frame == {
        "Body1": {
            "position": {"x": -0.73, "y": 0.0, "z": 0.0},
            "velocity": {"x": 0.0, "y": -0.0015, "z": 0.0},
            "mass": 1.0,
            "time": 0.0,
            "timeStep": 0.01,
        },
        "Body2": {
            "position": {"x": 60.34, "y": 0.0, "z": 0.0},
            "velocity": {"x": 0.0, "y": 0.13, "z": 0.0},
            "mass": 0.0123,
            "time": 0.0,
            "timeStep": 0.01,
        },
    }
    assert data[-1][2]["Body2"]["time"] == pytest.approx(0.1) and data[-1][2]["Body2"]["position"]["y"] > 0


def test_data_json_can_keep_the_flat_layout_and_a_bad_layout_or_system_fails_before_computing(instance, blob):
    request_steps(instance, 5)
    assert materialize(instance, blob, 5, data_json_layout="flat").success
    frame = json.loads(blob.read_bytes(f"{metadata(instance, 5)['blob_prefix']}/data.json"))[0][2]
    assert set(frame["Satellite"]) == {"time", "timeStep", "x", "y", "z", "vx", "vy", "vz"}
    for bad, message in (
        ({"data_json_layout": "nested"}, "unknown data_json_layout 'nested'"),
        ({"system": "earth_moon"}, "unknown system 'earth_moon'"),
    ):
        result = materialize(instance, blob, 5, **bad)
        assert not result.success
        assert message in str(result.get_step_failure_events()[0].event_specific_data.error)


def test_asking_again_for_an_existing_n_computes_nothing(instance, blob):
    request_steps(instance, 20)
    assert materialize(instance, blob, 20).success
    request_steps(instance, 20)  # idempotent
    second = materialize(instance, blob, 20)
    assert second.success
    assert len(materializations(instance, 20)) == 1
    assert second.asset_materializations_for_node(ASSET_OP) == []


def test_execution_settings_alone_do_not_recompute_but_dt_does(instance, blob):
    request_steps(instance, 20)
    assert materialize(instance, blob, 20).success
    again = materialize(instance, blob, 20, use_dask=True, max_steps=500)  # how, not what
    assert again.success and again.asset_materializations_for_node(ASSET_OP) == []
    assert len(materializations(instance, 20)) == 1
    changed = materialize(instance, blob, 20, dt=0.02)  # a different result
    assert changed.success and len(changed.asset_materializations_for_node(ASSET_OP)) == 1
    assert len(materializations(instance, 20)) == 2
    assert metadata(instance, 20)["platform/reason"] == "run config changed"


def test_resume_ignores_execution_settings_but_not_dt(instance, blob):
    for steps in (10, 20, 30):
        request_steps(instance, steps)
    assert materialize(instance, blob, 10).success
    assert materialize(instance, blob, 20, use_dask=True, max_steps=500).success
    assert metadata(instance, 20)["resumed_from_steps"] == 10
    assert materialize(instance, blob, 30, dt=0.02).success
    assert metadata(instance, 30)["resumed_from_steps"] == 0


def test_n_resumes_from_the_largest_matching_m_and_equals_from_scratch(instance, blob, tmp_path):
    for steps in (10, 20, 40):
        request_steps(instance, steps)
    assert materialize(instance, blob, 10).success
    assert materialize(instance, blob, 20).success
    assert metadata(instance, 20)["resumed_from_steps"] == 10
    assert materialize(instance, blob, 40).success
    meta = metadata(instance, 40)
    assert meta["resumed_from_steps"] == 20 and meta["computed_steps"] == 20
    assert "resumed from partition 20" in meta["resume"]

    with dg.instance_for_test() as fresh:  # from scratch: nothing to resume from
        request_steps(fresh, 40)
        assert materialize(fresh, blob, 40).success
        assert metadata(fresh, 40)["resumed_from_steps"] == 0
        scratch = stored_run(blob, fresh, 40)
    resumed = stored_run(blob, instance, 40)
    for name in ("nominal_positions", "mean", "covariance", "final_positions", "final_velocities"):
        assert np.array_equal(getattr(resumed, name), getattr(scratch, name)), name


def test_a_different_config_does_not_resume(instance, blob):
    request_steps(instance, 10)
    request_steps(instance, 20)
    assert materialize(instance, blob, 10, seed=1).success
    assert materialize(instance, blob, 20, seed=2).success
    assert metadata(instance, 20)["resumed_from_steps"] == 0


def test_dask_resource_runs_the_chunks(instance, blob):
    request_steps(instance, 15)
    assert materialize(instance, blob, 15, use_dask=True, dask_min_seconds=0).success
    assert metadata(instance, 15)["executor"] == "dask LocalCluster 2 workers (threads)"


def test_a_small_run_stays_in_process_below_the_dask_crossover(instance, blob):
    """Dask only where it pays: the default crossover keeps a tiny run in-process (no cluster)."""
    request_steps(instance, 15)
    dask = DaskResource(n_workers=2, processes=False)
    assert materialize(instance, blob, 15, use_dask=True, dask=dask).success
    assert metadata(instance, 15)["executor"].startswith("in-process (estimated ")


@pytest.mark.parametrize("key", ["abc", "0", "-5", "007", "1.5", " 5"])
def test_step_count_must_be_a_positive_integer(instance, blob, key):
    with pytest.raises(PropagationInputError, match="step count must be a positive integer"):
        request_steps(instance, key)
    instance.add_dynamic_partitions(propagation_steps.name, [key])  # e.g. typed into the UI
    result = materialize(instance, blob, key)
    assert not result.success
    assert "step count must be a positive integer" in str(result.get_step_failure_events()[0].step_failure_data.error)
    assert materializations(instance, key) == []


def test_step_count_above_the_configured_maximum_is_rejected(instance, blob):
    with pytest.raises(PropagationInputError, match="exceeds the configured maximum of 100"):
        request_steps(instance, 101, max_steps=100)
    request_steps(instance, 101)
    result = materialize(instance, blob, 101, max_steps=100)
    assert not result.success
    assert "exceeds the configured maximum of 100" in str(result.get_step_failure_events()[0].step_failure_data.error)


def test_bad_method_fails_with_a_clear_error(instance, blob):
    request_steps(instance, 5)
    result = materialize(instance, blob, 5, method="euler")
    assert not result.success
    assert "unknown method 'euler'" in str(result.get_step_failure_events()[0].step_failure_data.error)


def test_energy_check_passes_for_small_dt_and_fails_for_huge_dt(instance, blob):
    request_steps(instance, 200)
    ok = materialize(instance, blob, 200, check=True)
    assert ok.success
    [evaluation] = ok.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.metadata["relative_energy_drift"].value < 1e-3

    with dg.instance_for_test() as other:
        request_steps(other, 200)
        bad = materialize(other, blob, 200, check=True, dt=0.2)
        [evaluation] = bad.get_asset_check_evaluations()
        assert not evaluation.passed
        assert evaluation.metadata["relative_energy_drift"].value > 1e-3


def test_energy_check_bound_is_configurable(instance, blob):
    request_steps(instance, 200)
    result = materialize(instance, blob, 200, check=True, check_config={"max_relative_drift": 1e-9})
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["bound"].value == 1e-9


def test_request_job_adds_the_partition_and_rejects_bad_input(instance):
    job = request_propagation_steps
    ok = job.execute_in_process(
        instance=instance, run_config={"ops": {"add_step_partition": {"config": {"steps": 1000}}}}
    )
    assert ok.success and instance.has_dynamic_partition(propagation_steps.name, "1000")
    bad = job.execute_in_process(
        instance=instance,
        run_config={"ops": {"add_step_partition": {"config": {"steps": -3}}}},
        raise_on_error=False,
    )
    assert not bad.success
    assert not instance.has_dynamic_partition(propagation_steps.name, "-3")


def test_demo_seeds_the_original_step_count(instance):
    seed_demo(settings(), instance)
    seed_demo(settings(), instance)
    assert instance.get_dynamic_partitions(propagation_steps.name) == [str(DEMO_STEPS)]


def test_parse_steps_accepts_canonical_integers():
    assert parse_steps("500") == 500 and parse_steps(7) == 7
    with pytest.raises(PropagationInputError):
        parse_steps(True)


def test_dask_scheduler_address_from_the_environment(instance, blob, dask_client, monkeypatch):
    """In k8s DASK_SCHEDULER_ADDRESS points at a running scheduler: chunks go there."""
    address = dask_client.scheduler.address
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
    request_steps(instance, 25)
    dask = DaskResource(scheduler_address=dg.EnvVar("DASK_SCHEDULER_ADDRESS"))
    assert materialize(instance, blob, 25, use_dask=True, dask_min_seconds=0, dask=dask).success
    assert metadata(instance, 25)["executor"] == f"dask scheduler {address}"
    with dg.instance_for_test() as other:
        request_steps(other, 25)
        assert materialize(other, blob, 25, use_dask=False).success
        assert np.array_equal(stored_run(blob, instance, 25).covariance, stored_run(blob, other, 25).covariance)
