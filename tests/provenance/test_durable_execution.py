"""Durable execution on the local instance (issue 2, section 7): a run whose worker is
killed with SIGKILL mid-way is detected by run monitoring, retried from failure by the
run-retry daemon, and the step that had completed is not recomputed.

Real instance (SQLite), real daemon, real run worker, real `kill -9`."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.runtime.run_launcher import run_worker_pid
from tests.provenance.live_location import live_location
from tests.support.processes import wait_until

pytestmark = pytest.mark.slow  # a real daemon and code server


@pytest.fixture
def durable(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    with live_location(
        tmp_path,
        Path(__file__).with_name("durable_location.py"),
        instance_overrides={"run_monitoring": {"poll_interval_seconds": 1}, "run_retries": {"max_retries": 1}},
        env={"DURABLE_STATE_DIR": str(state)},
    ) as live:
        yield live, state


def counts(state: Path, name: str) -> int:
    path = state / f"{name}.count"
    return len(path.read_text().split()) if path.exists() else 0


def test_killed_run_worker_is_retried_from_failure_without_recomputing(durable):
    live, state = durable
    live.launch_job("durable_job")
    with live.instance() as instance:
        wait_until(lambda: (state / "second.started").exists(), 180, "the second step to start")
        (run,) = instance.get_runs()
        pid = run_worker_pid(instance, run.run_id)
        assert pid == int((state / "second.started").read_text()), "in-process executor: the worker runs the step"

        os.kill(pid, signal.SIGKILL)
        (state / "release").write_text("go")

        failed = wait_until(
            lambda: instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE,
            120,
            "run monitoring to fail the killed run",
        )
        assert failed
        retry = wait_until(
            lambda: next(
                (r for r in instance.get_runs() if r.tags.get("dagster/parent_run_id") == run.run_id),
                None,
            ),
            120,
            "the run-retry daemon to launch a retry",
        )
        wait_until(lambda: instance.get_run_by_id(retry.run_id).is_finished, 180, "the retry to finish")
        assert instance.get_run_by_id(retry.run_id).status == dg.DagsterRunStatus.SUCCESS

    assert counts(state, "first") == 1, "the completed step was recomputed"
    assert counts(state, "second") == 1
    assert retry.tags.get("dagster/retry_strategy", "FROM_FAILURE") == "FROM_FAILURE"
