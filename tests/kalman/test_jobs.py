"""Kalman runs belong to a named job that says what they compute."""

from __future__ import annotations

import dagster as dg

from platform_assets.kalman.assets import posterior
from platform_assets.kalman.jobs import kalman_posterior_job
from tests.kalman.helpers import run_sensor, write_demo_case


def test_the_case_sensor_requests_the_named_job_with_the_asset_and_its_checks(instance, blob):
    from platform_assets.definitions import defs

    write_demo_case(blob, "demo-smooth")
    (request,) = run_sensor(instance, blob, None).run_requests
    assert request.job_name == kalman_posterior_job.name == "kalman_posterior"
    job = defs.resolve_job_def(request.job_name)
    assert job.asset_layer.executable_asset_keys == {posterior.key}
    checks = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert checks == {"posterior_is_finite", "posterior_spread_is_positive", "innovation_statistics"}


def test_locally_a_run_is_one_process():
    """No step subprocesses locally (each would load the code location again)."""
    from platform_assets.definitions import defs

    assert defs.resolve_job_def(kalman_posterior_job.name).executor_def.name == dg.in_process_executor.name
