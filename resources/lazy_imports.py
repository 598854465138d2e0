"""Heavy libraries imported on first use, so loading the code location stays fast.

    sa = lazy_import("sqlalchemy")     # at module level; nothing is imported yet
    sa.select(...)                      # imports sqlalchemy here, once

Unlike an import inside each function, the module-level name keeps call sites readable
and lets the code-version collector see which project functions are called.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

# Never imported while the code location loads (checked by tests/platform/test_code_location.py
# and printed by bench/bench_load_time.py): each costs tens to thousands of milliseconds.
HEAVY_LIBRARIES = (
    "pyspark",
    "torch",
    "sentence_transformers",
    "distributed",
    "matplotlib",
    "sklearn",
    "numpy",
    "pandas",
    "pyarrow",
    "sqlalchemy",
    "httpx",
    "httpcore",
    "deltalake",
    "confluent_kafka",
)


class LazyModule:
    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):  # introspection (hasattr(x, "__wrapped__")) must not import
            raise AttributeError(attribute)
        return getattr(self._load(), attribute)

    def __reduce__(self):
        """Pickled (e.g. by cloudpickle for Dask workers) as the real module: a worker
        needs the library, not this repo."""
        return (importlib.import_module, (self._name,))

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{' (loaded)' if self._module else ''}>"


def lazy_import(name: str) -> LazyModule:
    return LazyModule(name)
