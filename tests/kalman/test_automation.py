"""Who requests a Kalman case: the sensor for new/changed inputs, automation only for a new
code version, and never both for the same case at the same time."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from platform_assets.kalman.assets import case_inputs, posterior, posterior_asset
from resources.shared.pipes import local_pipes_client
from sensors.kalman.cases import CASE_TAG
from tests.kalman.helpers import materialize_case, requested_partitions, run_sensor, write_demo_case

pytestmark = pytest.mark.slow  # runs the external program

CASES = ["demo-smooth", "demo-sparse"]


def requested(result) -> list[str]:
    return sorted(result.get_requested_partitions(posterior.key)) if result.get_num_requested(posterior.key) else []


def evaluate(instance, blob, asset=posterior, cursor=None):
    defs = dg.Definitions(assets=[case_inputs, asset], resources={"blob": blob, "pipes": local_pipes_client()})
    return dg.evaluate_automation_conditions(defs, instance=instance, cursor=cursor)


def test_automation_requests_cases_only_when_the_code_version_changes(instance, blob):
    for case in CASES:
        write_demo_case(blob, case)
    cursor = run_sensor(instance, blob, None).cursor

    # new partitions are the sensor's job: automation does not request them
    tick = evaluate(instance, blob)
    assert requested(tick) == []
    for case in CASES:
        assert materialize_case(instance, blob, case, checks=False).success
    tick = evaluate(instance, blob, cursor=tick.cursor)
    assert requested(tick) == []

    # changed inputs: also the sensor's job
    write_demo_case(blob, "demo-smooth", n_members=30)
    assert requested_partitions(run_sensor(instance, blob, cursor)) == ["demo-smooth"]
    tick = evaluate(instance, blob, cursor=tick.cursor)
    assert requested(tick) == []

    # a new program hash: every case, once
    rebuilt = posterior_asset(program="0" * 64)
    tick = evaluate(instance, blob, rebuilt, cursor=tick.cursor)
    assert requested(tick) == CASES
    tick = evaluate(instance, blob, rebuilt, cursor=tick.cursor)
    assert requested(tick) == []


def test_sensor_waits_while_the_case_is_being_computed(instance, blob):
    write_demo_case(blob, "demo-smooth")
    first = run_sensor(instance, blob, None)
    (request,) = first.run_requests
    assert request.tags[CASE_TAG] == "demo-smooth"  # limited to one run per case by dagster.yaml

    # the posterior of demo-smooth is being computed (e.g. requested by automation after a deploy)
    run = create_run_for_test(
        instance,
        job_name="__ASSET_JOB",
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": "demo-smooth"},
        asset_selection=frozenset({posterior.key}),
    )
    write_demo_case(blob, "demo-smooth", n_members=30)
    waiting = run_sensor(instance, blob, first.cursor)
    assert waiting.run_requests == [] and waiting.asset_events == []
    assert waiting.cursor == first.cursor  # the change is not forgotten ...

    instance.report_run_failed(run)
    after = run_sensor(instance, blob, waiting.cursor)
    assert requested_partitions(after) == ["demo-smooth"]  # ... it is requested once the run ended
    assert after.cursor != first.cursor
