"""Stopping the child processes that localdev and the tests start, by PID.

Every child is started in its own session (process group), so stopping it also stops what it
spawned (dagster dev's webserver and daemon, a code server's run workers): SIGTERM to the
group, SIGKILL to what is left of it after `timeout` seconds."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time


def interruptible_process_group() -> None:
    """`preexec_fn` of a child: default SIGINT (a child of a non-interactive shell ignores
    SIGINT and SIGTERM otherwise) and a process group of its own, which `stop_process_group`
    stops as a whole."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setpgrp()


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies do not count: where PID 1
    does not reap orphans, as in some containers, they never go away)."""
    import psutil

    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):  # gone meanwhile, or not ours to ask
            continue
    return False


def stop_process_group(process: subprocess.Popen | None, timeout: float = 20) -> None:
    """Stop ``process`` and every process of its group: SIGTERM, then SIGKILL to whatever
    of the group is left after ``timeout`` seconds. The group, not only its leader: a
    leader that exits in time may leave children still shutting down (``dagster dev``'s
    code servers and their run workers), and they must not outlive the stop."""
    if process is None:
        return
    pgid = process.pid
    if process.poll() is None or _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.poll()  # reap the leader as soon as it exits
        if not _group_alive(pgid):
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    process.wait()
