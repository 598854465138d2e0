"""Kalman assets end to end on file:// blob storage: sensor -> partitions -> posterior via
the real kalman-enkf program through Pipes -> checks, with the provenance core deciding
what is (not) recomputed."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from platform_assets.command import command_asset, program_digest
from platform_assets.kalman.assets import (
    KALMAN_PROGRAM_DIR,
    case_inputs,
    kalman_program_digest,
    posterior,
    posterior_asset,
)
from platform_assets.kalman.cases import case_key, output_prefix
from platform_assets.kalman.demo import DEMO_CASES, make_case
from platform_assets.kalman.partitions import kalman_cases
from platform_assets.provenance import FORCE_TAG
from tests.kalman.helpers import (
    computations,
    materialize_case,
    requested_partitions,
    run_sensor,
    write_demo_case,
)

pytestmark = pytest.mark.slow  # runs the external program

CASES = ["demo-smooth", "demo-sparse"]


def read_published(blob, case: str, name: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(blob.read_bytes(f"{blob.resolve(output_prefix(case))}/{name}")))


def first_round(instance, blob) -> str:
    for case in CASES:
        write_demo_case(blob, case)
    result = run_sensor(instance, blob, None)
    assert requested_partitions(result) == CASES
    for case in CASES:
        assert materialize_case(instance, blob, case).success
        assert computations(instance, case) == 1
    assert result.cursor is not None
    return result.cursor


def test_same_inputs_twice_compute_once(instance, blob):
    cursor = first_round(instance, blob)
    published = {case: blob.resolve(output_prefix(case)) for case in CASES}

    again = run_sensor(instance, blob, cursor)
    assert again.run_requests == [] and again.asset_events == []
    for case in CASES:  # even if something requests the runs again, nothing is recomputed
        result = materialize_case(instance, blob, case)
        assert result.success
        assert result.get_asset_materialization_events() == []
        assert computations(instance, case) == 1
        assert blob.resolve(output_prefix(case)) == published[case]


def test_changed_observations_recompute_only_that_case(instance, blob):
    cursor = first_round(instance, blob)
    key = case_key("demo-sparse", "observations.parquet")
    observations = pd.read_parquet(io.BytesIO(blob.read_bytes(key)))
    observations.loc[0, "value"] += 1.0
    blob.write_bytes(key, observations.to_parquet(index=False))

    result = run_sensor(instance, blob, cursor)
    assert requested_partitions(result) == ["demo-sparse"]
    for case in CASES:
        assert materialize_case(instance, blob, case).success
    assert computations(instance, "demo-sparse") == 2
    assert computations(instance, "demo-smooth") == 1
    innovations = read_published(blob, "demo-sparse", "innovations.parquet")
    assert innovations.loc[0, "value"] == observations.loc[0, "value"]


def test_changed_program_hash_recomputes_every_case(instance, blob, tmp_path):
    first_round(instance, blob)
    # a logic edit of the program changes its version (a formatting-only edit would not) ...
    import shutil

    source = tmp_path / "program"
    shutil.copytree(KALMAN_PROGRAM_DIR, source)
    assert program_digest(source) == kalman_program_digest()
    analysis = source / "kalman_enkf" / "analysis.py"
    analysis.write_text(analysis.read_text().replace("alpha: float = 1.0", "alpha: float = 2.0"))
    changed = posterior_asset(program=program_digest(source))
    # ... hence the code version, and every case is recomputed (once)
    assert changed.code_versions_by_key[posterior.key] != posterior.code_versions_by_key[posterior.key]
    for case in CASES:
        assert materialize_case(instance, blob, case, asset=changed).success
        assert materialize_case(instance, blob, case, asset=changed).success
        assert computations(instance, case) == 2


def test_force_tag_recomputes_and_is_recorded(instance, blob):
    first_round(instance, blob)
    result = materialize_case(instance, blob, "demo-smooth", tags={FORCE_TAG: "true"})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["platform/forced"].value is True
    assert computations(instance, "demo-smooth") == 2


def test_bad_config_fails_clearly_and_publishes_nothing(instance, blob):
    write_demo_case(blob, "broken", seed=4)
    config = json.loads(blob.read_bytes(case_key("broken", "config.json")))
    blob.write_bytes(case_key("broken", "config.json"), json.dumps(config | {"inflation": "lots"}).encode())
    assert requested_partitions(run_sensor(instance, blob, None)) == ["broken"]

    result = materialize_case(instance, blob, "broken")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message + str(failure.step_failure_data.user_failure_data)
    assert "exited with code 2" in message
    assert "config 'inflation' must be a float, got 'lots'" in message
    assert blob.current(output_prefix("broken")) is None
    assert blob.list(output_prefix("broken")) == []
    assert computations(instance, "broken") == 0


def test_checks_pass_and_report_innovation_statistics(instance, blob):
    write_demo_case(blob, "demo-smooth")
    run_sensor(instance, blob, None)
    result = materialize_case(instance, blob, "demo-smooth")
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"posterior_is_finite", "posterior_spread_is_positive", "innovation_statistics"}
    assert all(e.passed for e in evaluations.values())
    stats = evaluations["innovation_statistics"].metadata
    innovations = read_published(blob, "demo-smooth", "innovations.parquet")
    assert stats["observations"].value == len(innovations)
    assert stats["innovation_rms"].value > stats["posterior_residual_rms"].value > 0


def test_checks_catch_a_collapsed_or_broken_posterior(instance, blob):
    """A stand-in 'program' (cp) publishes a collapsed posterior containing a NaN."""
    write_demo_case(blob, "demo-smooth")
    run_sensor(instance, blob, None)
    demo = make_case(DEMO_CASES["demo-smooth"])
    collapsed = pd.DataFrame([demo.prior.iloc[0].to_numpy()] * 5, columns=demo.prior.columns)
    collapsed.iloc[0, 0] = float("nan")
    summary = pd.DataFrame({"variable": collapsed.columns, "prior_std": 1.0, "posterior_std": 0.0})
    innovations = pd.DataFrame({"innovation": [0.1], "normalized_innovation": [0.5], "posterior_residual": [0.1]})
    for name, frame in [("posterior", collapsed), ("summary", summary), ("innovations", innovations)]:
        blob.write_bytes(f"fixtures/{name}.parquet", frame.to_parquet(index=False))

    broken = command_asset(
        key=posterior.key,
        image="kalman",
        command=["sh", "-c", 'cp "$@" "$OUTPUT_PATH"/', "cp", "{inputs[p]}", "{inputs[s]}", "{inputs[i]}"],
        inputs={
            k: f"fixtures/{name}.parquet" for k, name in [("p", "posterior"), ("s", "summary"), ("i", "innovations")]
        },
        outputs=["posterior.parquet", "summary.parquet", "innovations.parquet"],
        output_prefix="kalman/posterior/{partition_key}",
        partitions_def=kalman_cases,
        deps=[case_inputs],
    )
    result = materialize_case(instance, blob, "demo-smooth", asset=broken)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["posterior_is_finite"].passed
    assert evaluations["posterior_is_finite"].metadata["non_finite_values"].value == 1
    assert not evaluations["posterior_spread_is_positive"].passed
    assert evaluations["innovation_statistics"].passed


def test_sensor_waits_for_complete_cases(instance, blob):
    write_demo_case(blob, "demo-smooth")
    blob.write_bytes(case_key("half", "config.json"), b"{}")
    result = run_sensor(instance, blob, None)
    assert requested_partitions(result) == ["demo-smooth"]
    assert instance.get_dynamic_partitions("kalman_cases") == ["demo-smooth"]
    (event,) = result.asset_events
    assert event.tags["dagster/data_version"] == json.loads(result.cursor)["demo-smooth"]


def test_seed_demo_is_idempotent_and_sensor_sees_it_once(instance, tmp_path, monkeypatch):
    from platform_assets.kalman.demo import seed_demo
    from resources.settings import settings
    from resources.shared.blob import BlobStorage

    monkeypatch.setenv("PLATFORM_BLOB_URL", f"file://{tmp_path}/seeded")
    seed_demo(settings(), instance)
    blob = BlobStorage(url=f"file://{tmp_path}/seeded")
    first = run_sensor(instance, blob, None)
    assert requested_partitions(first) == sorted(DEMO_CASES)
    seed_demo(settings(), instance)  # a restart of `python -m localdev` changes nothing
    assert run_sensor(instance, blob, first.cursor).run_requests == []


def test_new_program_image_digest_makes_cases_stale(instance, blob, monkeypatch):
    write_demo_case(blob, "demo-smooth")
    run_sensor(instance, blob, None)
    assert materialize_case(instance, blob, "demo-smooth", checks=False).success
    monkeypatch.setenv("PLATFORM_IMAGE_KALMAN", "registry.example.org/data-platform/kalman@sha256:" + "1" * 64)
    rebuilt = posterior_asset()
    assert rebuilt.code_versions_by_key[posterior.key] != posterior.code_versions_by_key[posterior.key]
    assert materialize_case(instance, blob, "demo-smooth", asset=rebuilt, checks=False).success
    assert materialize_case(instance, blob, "demo-smooth", asset=rebuilt, checks=False).success
    assert computations(instance, "demo-smooth") == 2
