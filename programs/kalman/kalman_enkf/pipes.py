"""A dependency-free speaker of the Dagster Pipes protocol (external side).

The program must not depend on Dagster, yet it can tell the orchestrator what it produced.
The Pipes protocol is small enough to speak directly: the orchestrator passes two env vars,
each ``base64(zlib(json))``; the messages param names a file (``path``) or a standard stream
(``stdio``) to which we append one JSON message per line. When the env vars are absent (a
plain command-line run) reporting is a no-op.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import zlib
from typing import Any

PROTOCOL_VERSION = "0.1"
CONTEXT_ENV = "DAGSTER_PIPES_CONTEXT"
MESSAGES_ENV = "DAGSTER_PIPES_MESSAGES"


def _decode(value: str) -> Any:
    return json.loads(zlib.decompress(base64.b64decode(value)))


class PipesReporter:
    def __init__(self, messages_params: dict | None, context: dict | None):
        self._params = messages_params
        self._context = context or {}

    @classmethod
    def from_env(cls) -> PipesReporter:
        if MESSAGES_ENV not in os.environ:
            return cls(None, None)
        context_params = _decode(os.environ[CONTEXT_ENV]) if CONTEXT_ENV in os.environ else {}
        if "path" in context_params:
            with open(context_params["path"], encoding="utf-8") as f:
                context = json.load(f)
        else:
            context = context_params.get("data", {})
        return cls(_decode(os.environ[MESSAGES_ENV]), context)

    def _write(self, method: str, params: dict | None) -> None:
        if self._params is None:
            return
        line = json.dumps({"__dagster_pipes_version": PROTOCOL_VERSION, "method": method, "params": params})
        if "path" in self._params:
            with open(self._params["path"], "a", encoding="utf-8") as f:
                f.write(line + "\n")
        else:
            stream = (
                sys.stderr if self._params.get("stdio", self._params.get("buffered_stdio")) == "stderr" else sys.stdout
            )
            stream.write(line + "\n")
            stream.flush()

    def open(self) -> None:
        self._write("opened", {"extras": {}})

    def log(self, message: str, level: str = "INFO") -> None:
        self._write("log", {"message": message, "level": level})

    def report_materialization(self, metadata: dict[str, Any]) -> None:
        keys = self._context.get("asset_keys") or [None]
        self._write(
            "report_asset_materialization",
            {
                "asset_key": keys[0],
                "data_version": None,
                "metadata": {k: {"raw_value": v, "type": "__infer__"} for k, v in metadata.items()},
            },
        )

    def close(self, error: str | None = None) -> None:
        payload: dict[str, object] = {}
        if error:
            payload = {
                "exception": {"name": "InputError", "message": error, "stack": [], "cause": None, "context": None}
            }
        self._write("closed", payload)
