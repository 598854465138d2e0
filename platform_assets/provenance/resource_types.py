"""Which resource the code location binds to each resource key, found without listing.

An asset that asks for `context.resources.lake` runs `DeltaLake` methods: they belong in
its closure as much as the functions it calls by name. Every package of `resources/`
builds its resources in one factory, `<package>_resources()` (`shared_resources()`,
`cts_resources()` ...); calling them gives key -> instance, hence key -> class. Besides
the class, the closure takes the factory's *expression for that key* (e.g.
`SparkResource(spark_config=spark_config(...))`): configuration written in code, such as
Spark's session settings, shapes outputs too. Environment values do not (`from_env`,
`settings()` are execution-only): where a resource points is not what an asset computes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class BoundResource:
    key: str
    resource_class: type
    factory: Callable[..., Mapping[str, Any]]


@lru_cache(maxsize=4)
def bound_resources(package: str = "resources") -> Mapping[str, BoundResource]:
    """key -> the class and factory of the resource the code location binds to it."""
    root = importlib.import_module(package)
    found: dict[str, BoundResource] = {}
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        factory = getattr(module, f"{info.name}_resources", None)
        if not callable(factory):
            continue
        for key, resource in factory().items():
            found[key] = BoundResource(key, type(resource), factory)
    return found
