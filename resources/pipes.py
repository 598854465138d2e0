"""Which Dagster Pipes client runs external programs: a local subprocess or a k8s pod.

`PLATFORM_ENV=local` -> :class:`LoggedPipesSubprocessClient` (a `PipesSubprocessClient` whose
program output lands in the Dagster event log); `PLATFORM_ENV=k8s` -> `PipesK8sClient`, which
runs the program in a pod with the asset's own image.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

import dagster as dg
from dagster._core.pipes.client import PipesClientCompletedInvocation  # not re-exported
from dagster._core.pipes.utils import open_pipes_session  # not re-exported

from resources.settings import settings

OUTPUT_LOG_LIMIT = 20_000  # characters of stdout/stderr kept in the event log and failure


def _tail(text: str, limit: int = OUTPUT_LOG_LIMIT) -> str:
    return text if len(text) <= limit else f"...[{len(text) - limit} characters cut]...\n{text[-limit:]}"


class LoggedPipesSubprocessClient(dg.PipesSubprocessClient):
    """`PipesSubprocessClient` that captures the program's stdout/stderr, logs them to the
    Dagster event log and raises a `dg.Failure` carrying them on a non-zero exit.

    The stock client either forwards output to the worker's terminal (invisible in the UI for
    in-process runs) or discards it; for an external program the output is the diagnosis.
    If the step is interrupted, `subprocess.run` kills the program before re-raising.
    """

    def run(  # type: ignore[override]
        self,
        *,
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
        command: str | Sequence[str],
        extras: Mapping | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> PipesClientCompletedInvocation:
        with open_pipes_session(
            context=context,
            context_injector=self.context_injector,
            message_reader=self.message_reader,
            extras=extras,
        ) as session:
            try:
                completed = subprocess.run(
                    command,
                    cwd=cwd or self.cwd,
                    env={**os.environ, **self.env, **(env or {}), **session.get_bootstrap_env_vars()},
                    capture_output=True,
                    text=True,
                    errors="replace",
                )
            except FileNotFoundError as error:
                raise dg.Failure(description=f"program not found: {error.filename}") from error
            for stream in ("stdout", "stderr"):
                text = getattr(completed, stream)
                if text.strip():
                    context.log.info(f"[program {stream}]\n{_tail(text)}")
            if completed.returncode != 0:
                raise dg.Failure(
                    description=(
                        f"external program exited with code {completed.returncode}: "
                        f"{_tail(completed.stderr.strip(), 2000) or '(no stderr)'}"
                    ),
                    metadata={
                        "exit_code": completed.returncode,
                        "command": dg.MetadataValue.text(" ".join(map(str, command))),
                        "stdout": dg.MetadataValue.text(_tail(completed.stdout)),
                        "stderr": dg.MetadataValue.text(_tail(completed.stderr)),
                    },
                    allow_retries=False,  # deterministic failure: retrying repeats it
                )
        return PipesClientCompletedInvocation(session)


def local_pipes_client() -> LoggedPipesSubprocessClient:
    """The venv's `bin/` goes first on PATH so console scripts installed next to this
    interpreter (e.g. `kalman-enkf`) are found even when dagster was started by full path."""
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return LoggedPipesSubprocessClient(env={"PATH": path})


def k8s_pipes_client():
    from dagster_k8s import PipesK8sClient

    return PipesK8sClient()


def pipes_client():
    """The Pipes client for the current `PLATFORM_ENV`."""
    return k8s_pipes_client() if settings().is_k8s else local_pipes_client()
