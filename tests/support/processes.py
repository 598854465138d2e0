"""Start and stop Dagster's own processes (daemon, webserver) for end-to-end tests.

Background Dagster processes started from a non-interactive shell ignore SIGINT and
SIGTERM unless SIGINT is reset in the child, so every child gets its own
session and default SIGINT, and is stopped by PID (process group)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from localdev.processes import interruptible_process_group, stop_process_group


def dagster_cli(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def start(args: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        env=env,
        cwd=cwd,
        stdout=open(log_path, "ab"),
        stderr=subprocess.STDOUT,
        preexec_fn=interruptible_process_group,
    )


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    stop_process_group(process, timeout)


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
