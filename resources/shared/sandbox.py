"""A private view of the machine for external programs run by the local Pipes runner.

A command asset's program must see its declared inputs and nothing else of the worker: not
its environment (cloud keys, the CTS token), not its files (blob storage of other cases,
Dagster's instance), not its network. Locally this is bubblewrap (`bwrap`, Debian package
`bubblewrap`, installed by `make system-deps`), which gives each program

- new user, PID, IPC, UTS, cgroup and network namespaces: it runs as uid/gid 65534 without
  capabilities and cannot create namespaces of its own; its `/proc` shows only its own
  processes (so `/proc/$PPID/environ` is the sandbox's init, whose environment is the
  program's own minimal one); only a loopback interface;
- a private mount namespace holding only: the system (`/usr`, the merged-usr links, a few
  harmless `/etc` files), the Python installation running the platform (with the sources of
  editable installs), the program file itself, the staged inputs (read-only), the output
  folder and the Pipes files (writable), an empty private `/tmp`, `/dev` and `/proc`;
- its own session (no terminal injection) and death when the worker dies.

Where bubblewrap is missing or cannot create namespaces (e.g. inside a container that
forbids user namespaces), programs run without isolation: the platform warns once when the
code location loads, and the local runner is then no security boundary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

SANDBOX_ID = 65534  # "nobody" inside the sandbox
# Files of /etc a program may need (dynamic linker, alternatives links such as awk, time
# zone, user and group names (tools that look up their uid), name service switch, CA
# certificates). Nothing secret: no shadow, no keys.
ETC_ENTRIES = (
    "alternatives",
    "group",
    "passwd",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "ssl",
    "perl",
)
ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Tried in order: the first option set bwrap accepts (older releases lack --disable-userns).
HARDENING_OPTIONS: tuple[tuple[str, ...], ...] = (("--disable-userns",), ())


class SandboxUnavailable(UserWarning):
    """External programs run without isolation on this machine."""


@dataclass(frozen=True)
class Sandbox:
    """How to wrap a command so that it sees only what it is given."""

    bwrap: str
    hardening: tuple[str, ...] = ()

    def command(
        self,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike,
        readable: Iterable[str | os.PathLike] = (),
        writable: Iterable[str | os.PathLike] = (),
    ) -> list[str]:
        """``argv`` wrapped in bwrap: the system and the Python runtime read-only, ``cwd`` and
        ``readable`` read-only, ``writable`` read-write, each at its own path (so paths in
        the command and in the Pipes parameters stay valid)."""
        args = [
            self.bwrap,
            "--unshare-all",
            "--unshare-user",
            "--uid",
            str(SANDBOX_ID),
            "--gid",
            str(SANDBOX_ID),
            "--cap-drop",
            "ALL",
            *self.hardening,
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "sandbox",
            *_system_mounts(),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
        ]
        for path in runtime_paths():
            args += _bind("--ro-bind", path)
        program = _program_file(argv[0])
        if program is not None:
            args += _bind("--ro-bind", program)
        for shown in [cwd, *readable]:
            args += _bind("--ro-bind", Path(shown))
        for changed in writable:
            args += _bind("--bind", Path(changed))
        return [*args, "--chdir", str(cwd), "--", *argv]


def _bind(option: str, path: Path) -> list[str]:
    """Mount ``path`` at the same place, and at its resolved place when it goes through a
    symbolic link (a venv reached by a link, an interpreter symlinked elsewhere)."""
    absolute = Path(os.path.abspath(path))
    resolved = absolute.resolve()
    args = [option, str(resolved), str(resolved)]
    if resolved != absolute:
        args = [*args, option, str(resolved), str(absolute)]
    return args


def _system_mounts() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ROOT_LINKS:
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC_ENTRIES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


@lru_cache(maxsize=1)
def runtime_paths() -> tuple[Path, ...]:
    """The Python installation a program of the platform runs on: the virtual environment,
    the base interpreter, and the package folders of editable installs (`pip install -e`
    keeps sources outside the environment). Only package folders, never a whole project
    folder: that one may hold local state (`.platform/`)."""
    paths = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    for dist in metadata.distributions():
        source = _editable_source(dist)
        if source is None:
            continue
        for name in (dist.read_text("top_level.txt") or "").split():
            for package in (source / name, source / "src" / name):
                if package.is_dir():
                    paths.add(package)
    return tuple(sorted(p for p in paths if p.exists()))


def _editable_source(dist: metadata.Distribution) -> Path | None:
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        direct = json.loads(text)
    except json.JSONDecodeError:
        return None
    url = urlparse(direct.get("url", ""))
    if not direct.get("dir_info", {}).get("editable") or url.scheme != "file":
        return None
    return Path(unquote(url.path))


def _program_file(executable: str) -> Path | None:
    """The program given by path (a script next to the asset, a test's program) is part of
    what the sandbox shows; a bare name is found on the sandbox's own PATH."""
    path = Path(executable)
    return path if path.is_absolute() and path.is_file() else None


def probe(bwrap: str | None) -> tuple[Sandbox | None, str]:
    """A working sandbox and '' or None and the reason: bwrap must exist and be able to
    start a program with exactly the options real runs use."""
    if bwrap is None:
        return None, "bubblewrap (`bwrap`) is not installed"
    reason = ""
    for hardening in HARDENING_OPTIONS:
        sandbox = Sandbox(bwrap, hardening)
        argv = sandbox.command(["true"], cwd="/")
        try:
            result = subprocess.run(argv, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, f"bwrap could not be started: {error}"
        if result.returncode == 0:
            return sandbox, ""
        reason = f"bwrap cannot create a sandbox here: {result.stderr.strip() or f'exit {result.returncode}'}"
    return None, reason


@lru_cache(maxsize=1)
def local_sandbox() -> Sandbox | None:
    """The sandbox of this machine, probed once per process; warns once when there is none."""
    sandbox, reason = probe(shutil.which("bwrap"))
    if sandbox is None:
        warnings.warn(
            f"{reason}. External programs (command assets) run WITHOUT isolation: they can "
            "read the worker's files and, through /proc, its environment (cloud keys, tokens). "
            "The local runner is no security boundary. Install bubblewrap (`make system-deps`) "
            "on a kernel that allows user namespaces.",
            SandboxUnavailable,
            stacklevel=2,
        )
    return sandbox


def pipes_paths(bootstrap_env: Mapping[str, str]) -> tuple[list[Path], list[Path]]:
    """(readable, writable) paths the Pipes parameters name: the context file is read, the
    folder of the messages file is written. Stdio or inline parameters name none."""
    from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, DAGSTER_PIPES_MESSAGES_ENV_VAR, decode_param

    readable, writable = [], []
    context = (
        decode_param(bootstrap_env[DAGSTER_PIPES_CONTEXT_ENV_VAR])
        if DAGSTER_PIPES_CONTEXT_ENV_VAR in bootstrap_env
        else {}
    )
    messages = (
        decode_param(bootstrap_env[DAGSTER_PIPES_MESSAGES_ENV_VAR])
        if DAGSTER_PIPES_MESSAGES_ENV_VAR in bootstrap_env
        else {}
    )
    if isinstance(context.get("path"), str):
        readable.append(Path(context["path"]))
    if isinstance(messages.get("path"), str):
        writable.append(Path(messages["path"]).parent)
    return readable, writable
