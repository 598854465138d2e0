"""Durable execution on the local instance (issue 2, section 7): a run whose worker is
killed with SIGKILL mid-way is detected by run monitoring, retried from failure by the
run-retry daemon, and the step that had completed is not recomputed.

Real instance (SQLite), real daemon, real run worker, real `kill -9`."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.instance.ref import InstanceRef

from localdev.broker import free_port
from platform_assets.runtime.run_launcher import run_worker_pid
from tests.support.processes import dagster_cli, start, stop, wait_until

pytestmark = pytest.mark.slow  # a real daemon and code server

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def durable_home(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    config["run_monitoring"].update(poll_interval_seconds=1)
    config["run_retries"].update(max_retries=1)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    state = tmp_path / "state"
    state.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DURABLE_STATE_DIR": str(state)}
    # One code server shared by the daemon and the launch command: on a loaded 2-core
    # machine, letting each start its own server can exceed Dagster's startup timeout.
    port = free_port()
    code_server = start(
        [
            dagster_cli("dagster"),
            "api",
            "grpc",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-f",
            str(Path(__file__).with_name("durable_location.py")),
            "-d",
            str(REPO_ROOT),
        ],
        env,
        tmp_path / "code_server.log",
        REPO_ROOT,
    )
    daemon = None
    try:
        wait_until(
            lambda: (
                subprocess.run(
                    [dagster_cli("dagster"), "api", "grpc-health-check", "-p", str(port)],
                    env=env,
                    capture_output=True,
                    timeout=60,
                ).returncode
                == 0
            ),
            240,
            "the code server to be healthy",
            interval=2,
        )
        workspace = tmp_path / "workspace.yaml"
        workspace.write_text(
            yaml.safe_dump(
                {"load_from": [{"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": "durable"}}]}
            )
        )
        daemon = start(
            [dagster_cli("dagster-daemon"), "run", "-w", str(workspace)], env, tmp_path / "daemon.log", REPO_ROOT
        )
        yield home, workspace, state, env
    finally:
        if daemon is not None:
            stop(daemon)
        stop(code_server)
        for log in ("daemon.log", "code_server.log"):
            if (tmp_path / log).exists():
                print(f"--- {log}\n" + (tmp_path / log).read_text()[-3000:])


def counts(state: Path, name: str) -> int:
    path = state / f"{name}.count"
    return len(path.read_text().split()) if path.exists() else 0


def test_killed_run_worker_is_retried_from_failure_without_recomputing(durable_home):
    home, workspace, state, env = durable_home
    subprocess.run(
        [dagster_cli("dagster"), "job", "launch", "-w", str(workspace), "-j", "durable_job"],
        env=env,
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
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
