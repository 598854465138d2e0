"""Proof by tracing that a code version's closure is complete.

Static analysis decides what a code version hashes (`code_version.py`); this module checks
it against what really runs. `StepTracer` records, for every step of in-process runs,
each project function that executed (Python frames whose file is in the project, in any
thread: Dask and Pipes reader threads included); `escapes(...)` lists those that are
neither in the closure of the function the step runs nor declared execution-only.
An asset whose step executes code outside its closure could change without its code
version moving: `tests/provenance/test_tracing.py` runs every asset and check of the code
location under the tracer and requires no escape.

Python 3.11 has no `sys.monitoring`: the tracer is a `sys.settrace`/`threading.settrace`
function that only looks at "call" events (no line tracing), so traced steps run a few
times slower, not orders of magnitude. Steps of the multiprocess executor run in other
processes: trace runs that execute in-process (`dg.materialize`).
"""

from __future__ import annotations

import sys
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from types import FrameType
from typing import Any

from platform_assets.provenance.code_version import PROJECT_ROOT, is_project_file
from platform_assets.provenance.execution_only import is_execution_only

# the function Dagster runs (and resumes) for every step; its `step_context` names the step
_STEP_FUNCTION = "dagster_event_sequence_for_step"
NO_STEP = "<outside any step>"


class StepTracer:
    """Context manager: every project function executed, by step key."""

    def __init__(self, roots: Iterable[Path] = (PROJECT_ROOT,)):
        self.roots = tuple(Path(r).resolve() for r in roots)
        self.executed: dict[str, set[str]] = defaultdict(set)
        self._step = NO_STEP
        self._previous: Any = None

    @lru_cache(maxsize=4096)  # noqa: B019  (one tracer per test; the cache dies with it)
    def _is_project(self, filename: str) -> bool:
        return is_project_file(filename, self.roots)

    def _trace(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return None
        code = frame.f_code
        if code.co_name == _STEP_FUNCTION:
            step_context = frame.f_locals.get("step_context")
            step = getattr(step_context, "step", None)
            if step is not None:
                self._step = step.key
        elif self._is_project(code.co_filename):
            module = frame.f_globals.get("__name__", "?")
            self.executed[self._step].add(f"{module}:{code.co_qualname}")
        return None

    def __enter__(self) -> StepTracer:
        self._previous = sys.gettrace()
        threading.settrace(self._trace)
        sys.settrace(self._trace)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self._previous)
        threading.settrace(self._previous)


def escapes(executed: Iterable[str], closure: frozenset[str]) -> list[str]:
    """Executed project functions that are neither hashed nor declared execution-only."""
    found = []
    for name in sorted(set(executed)):
        module, _, qualname = name.partition(":")
        if name in closure or is_execution_only(module, qualname):
            continue
        found.append(name)
    return found


def escapes_by_step(executed: Mapping[str, set[str]], closures: Mapping[str, frozenset[str]]) -> dict[str, list[str]]:
    """step key -> escaping functions, for the steps whose closure is known."""
    report = {}
    for step, names in executed.items():
        if step in closures:
            found = escapes(names, closures[step])
            if found:
                report[step] = found
    return report
