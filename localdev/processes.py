"""Stopping the child processes that localdev and the tests start, by PID.

Every child is started in its own session (process group), so stopping it also stops what it
spawned (dagster dev's webserver and daemon, a code server's run workers): SIGTERM to the
group, SIGKILL if it has not exited within `timeout` seconds."""

from __future__ import annotations

import os
import signal
import subprocess


def interruptible_process_group() -> None:
    """`preexec_fn` of a child: default SIGINT (a child of a non-interactive shell ignores
    SIGINT and SIGTERM otherwise) and a process group of its own, which `stop_process_group`
    stops as a whole."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setpgrp()


def stop_process_group(process: subprocess.Popen | None, timeout: float = 20) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
