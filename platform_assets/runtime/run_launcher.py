"""A local run launcher whose run workers can be health-checked.

Dagster's `DefaultRunLauncher` cannot tell whether a run worker is alive, so run
monitoring never notices a worker that was killed (OOM, `kill -9`, a laptop suspend):
the run stays STARTED forever. Every run worker reports its PID in the engine event
"Started process for run (pid: N)"; this launcher checks that process. A dead worker makes
run monitoring fail the run, run retries re-execute it from failure, and skip-when-unchanged
makes re-executed steps idempotent: durable execution on a laptop.
"""

from __future__ import annotations

import dagster as dg
import psutil

from platform_assets.provenance.dagster_internals import CheckRunHealthResult, WorkerStatus


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=50).records
    for record in records:
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is not None and entry.message and entry.message.startswith("Started process for run"):
            pid = event.engine_event_data.metadata.get("pid")
            value = pid.value if isinstance(pid, dg.MetadataValue) else pid
            if isinstance(value, (int, str)) and str(value).isdigit():  # recorded as text or int
                return int(value)
    return None


def process_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class HealthCheckedRunLauncher(dg.DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        pid = run_worker_pid(self._instance, run.run_id)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "run worker has not reported a pid")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} is gone")
