"""Which Dagster Pipes client runs external programs: a local subprocess or a k8s pod.

`PLATFORM_ENV=local` -> :class:`LoggedPipesSubprocessClient` (a `PipesSubprocessClient` that
runs the program in a bubblewrap sandbox (`resources/shared/sandbox.py`) with only PATH/LANG/
LC_ALL plus declared variables, and whose program output lands in the Dagster event log as it
runs); `PLATFORM_ENV=k8s` -> `PipesK8sClient`, which runs the program in a pod with the
asset's own image.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

import dagster as dg

from resources.shared.sandbox import Sandbox, local_sandbox, pipes_paths

OUTPUT_LOG_LIMIT = 20_000  # characters of stdout/stderr kept in the failure metadata
LOG_BATCH_SECONDS = 1.0  # program output is forwarded to the event log at most this often
# The only variables of the worker's environment a program inherits (hermetic: no AWS_*,
# PLATFORM_*, DAGSTER_* ...); everything else must be declared (`env=`) by the asset.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
# In the sandbox HOME and TMPDIR are its private, empty /tmp (the worker's do not exist there).
SANDBOX_ENV = {"HOME": "/tmp", "TMPDIR": "/tmp"}


def _tail(text: str, limit: int = OUTPUT_LOG_LIMIT) -> str:
    return text if len(text) <= limit else f"...[{len(text) - limit} characters cut]...\n{text[-limit:]}"


def program_environment(*declared: Mapping[str, str] | None) -> dict[str, str]:
    """The environment of an external program: the few inherited variables, then the
    declared ones (later mappings win)."""
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    for mapping in declared:
        env.update(mapping or {})
    return env


def _pump(stream, name: str, lines: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        lines.put((name, line))
    stream.close()


def _stream_output(context, process: subprocess.Popen) -> dict[str, str]:
    """Forward the program's stdout/stderr to the event log while it runs (in batches, from
    this thread: the Dagster logger is not used from the reader threads); return both."""
    lines: queue.Queue = queue.Queue()
    readers = [
        threading.Thread(target=_pump, args=(getattr(process, name), name, lines), daemon=True)
        for name in ("stdout", "stderr")
    ]
    for reader in readers:
        reader.start()
    captured: dict[str, list[str]] = {"stdout": [], "stderr": []}
    while True:
        finished = not any(reader.is_alive() for reader in readers)
        batch: dict[str, list[str]] = {"stdout": [], "stderr": []}
        while not lines.empty():
            name, line = lines.get_nowait()
            batch[name].append(line)
        for name, chunk in batch.items():
            captured[name] += chunk
            if "".join(chunk).strip():
                context.log.info(f"[program {name}]\n{_tail(''.join(chunk))}")
        if finished:
            return {name: "".join(chunk) for name, chunk in captured.items()}
        try:  # returns as soon as the program exits, else batches output per interval
            process.wait(timeout=LOG_BATCH_SECONDS)
        except subprocess.TimeoutExpired:
            continue
        for reader in readers:  # the pipes reach EOF right after the exit
            reader.join(timeout=LOG_BATCH_SECONDS)


class LoggedPipesSubprocessClient(dg.PipesSubprocessClient):
    """`PipesSubprocessClient` that runs the program in a sandbox with a minimal environment,
    streams its stdout/stderr to the Dagster event log as it runs and raises a `dg.Failure`
    carrying them on a non-zero exit.

    The stock client passes the worker's whole environment (cloud credentials, platform and
    Dagster settings), lets the program read every file of the worker (and, through
    `/proc/$PPID/environ`, the worker's environment however minimal the child's is), and
    either forwards output to the worker's terminal (invisible in the UI for in-process runs)
    or discards it; for an external program the output is the diagnosis. If the step is
    interrupted, the program is killed before re-raising.

    ``sandbox=None`` runs programs unisolated (a machine without bubblewrap; the platform
    warned when it loaded).
    """

    def __init__(self, *, sandbox: Sandbox | None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sandbox = sandbox

    def run(  # type: ignore[override]
        self,
        *,
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
        command: str | Sequence[str],
        extras: Mapping | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        readable: Sequence[str] = (),
        writable: Sequence[str] = (),
    ) -> dg.PipesClientCompletedInvocation:
        """Run ``command`` in ``cwd``. In the sandbox it sees ``cwd`` and ``readable``
        read-only, ``writable`` read-write (besides the system, the Python runtime and the
        Pipes files); nothing else of the worker."""
        with dg.open_pipes_session(
            context=context,
            context_injector=self.context_injector,
            message_reader=self.message_reader,
            extras=extras,
        ) as session:
            bootstrap = session.get_bootstrap_env_vars()
            argv = [command] if isinstance(command, str) else list(command)
            workdir = cwd or self.cwd or os.getcwd()
            program_env = program_environment(
                self.env, SANDBOX_ENV if self.sandbox is not None else None, env, bootstrap
            )
            if self.sandbox is not None:
                pipes_readable, pipes_writable = pipes_paths(bootstrap)
                argv = self.sandbox.command(
                    argv,
                    cwd=workdir,
                    readable=[*readable, *pipes_readable],
                    writable=[*writable, *pipes_writable],
                )
            try:
                # bwrap gets the program's environment, not the worker's: it is the parent the
                # program sees (`/proc/$PPID/environ`)
                process = subprocess.Popen(
                    argv,
                    cwd=workdir,
                    env=program_env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    errors="replace",
                )
            except FileNotFoundError as error:
                raise dg.Failure(description=f"program not found: {error.filename}") from error
            try:
                output = _stream_output(context, process)
                returncode = process.wait()
            finally:
                if process.poll() is None:  # interrupted: do not leave the program running
                    process.kill()
                    process.wait()
            if returncode != 0:
                raise dg.Failure(
                    description=(
                        f"external program exited with code {returncode}: "
                        f"{_tail(output['stderr'].strip(), 2000) or '(no stderr)'}"
                    ),
                    metadata={
                        "exit_code": returncode,
                        "command": dg.MetadataValue.text(" ".join(map(str, command))),
                        "stdout": dg.MetadataValue.text(_tail(output["stdout"])),
                        "stderr": dg.MetadataValue.text(_tail(output["stderr"])),
                    },
                    allow_retries=False,  # deterministic failure: retrying repeats it
                )
        return dg.PipesClientCompletedInvocation(session)


def local_pipes_client() -> LoggedPipesSubprocessClient:
    """The venv's `bin/` goes first on PATH so console scripts installed next to this
    interpreter (e.g. `kalman-enkf`) are found even when dagster was started by full path.
    The sandbox is probed here, when the code location loads (a warning if there is none)."""
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return LoggedPipesSubprocessClient(env={"PATH": path}, sandbox=local_sandbox())


def k8s_pipes_client() -> dg.PipesClient:
    from dagster_k8s import PipesK8sClient

    return PipesK8sClient()
