"""Resource configuration from the environment, through Dagster's `EnvVar`.

`env_or("X", default)` is `dg.EnvVar("X")` when X is set (so the value is resolved by
Dagster at run time and never baked into the definitions or shown in the UI), otherwise
the local default. Secrets use `dg.EnvVar` directly.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg


def env_or(name: str, default: Any) -> Any:
    return dg.EnvVar(name) if os.environ.get(name) else default
