"""Finding the workload families: nothing lists them, the folders are the list.

A family is a package `platform_assets/<name>/` with a `definitions.py` exporting
`defs`; its triggers live in `sensors/<name>/definitions.py` (optional) and its local demo
data in `platform_assets/<name>/demo.py` (optional, `seed_demo(settings, instance)`).
Every other package of `platform_assets/` is a shared mechanism and must be declared in
`SHARED_PACKAGES`, so a family folder that lost its `definitions.py` fails loudly instead
of disappearing. Like Dagster's `load_defs`, but only the modules named above are imported
(no module is loaded just because it exists: demo and heavy modules stay out of load time).
Loud failures: a broken import, a missing `defs`, sensors of a family that does not exist,
an asset key outside the family's prefix.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg

import platform_assets
import sensors

SHARED_PACKAGES = {"provenance", "runtime", "command"}


class FamilyError(RuntimeError):
    """A family folder is incomplete or inconsistent; the message names the file."""


@dataclass(frozen=True)
class Family:
    name: str

    @cached_property
    def definitions(self) -> dg.Definitions:
        """Assets, jobs, checks and resources (`platform_assets/<name>`) with the family's
        triggers (`sensors/<name>`), checked against the family contract."""
        parts = [_defs_of(f"platform_assets.{self.name}.definitions")]
        if _is_package(Path(sensors.__file__).parent / self.name):
            parts.append(_defs_of(f"sensors.{self.name}.definitions"))
        merged = dg.Definitions.merge(*parts)
        for assets_def in merged.assets or ():
            keys = getattr(assets_def, "keys", None) or [assets_def.key]
            outside = [k.to_user_string() for k in keys if k.path[0] != self.name]
            if outside:
                raise FamilyError(f"platform_assets/{self.name}: asset keys {outside} must start with '{self.name}/'")
        return merged

    @property
    def demo_seeder(self) -> Callable[[Any, dg.DagsterInstance], None] | None:
        """`seed_demo(settings, instance)` of the family's `demo.py`, if it has one."""
        if not (Path(platform_assets.__file__).parent / self.name / "demo.py").is_file():
            return None
        return importlib.import_module(f"platform_assets.{self.name}.demo").seed_demo


def _is_package(path: Path) -> bool:
    return (path / "__init__.py").is_file()


def _defs_of(module_name: str) -> dg.Definitions:
    module = importlib.import_module(module_name)  # a broken family raises here, loudly
    defs = getattr(module, "defs", None)
    if not isinstance(defs, dg.Definitions):
        raise FamilyError(f"{module.__file__} must export `defs = dg.Definitions(...)`")
    return defs


def discover_families() -> list[Family]:
    """Every family, by name; raises `FamilyError` on an inconsistent tree."""
    root = Path(platform_assets.__file__).parent
    names = []
    for module in pkgutil.iter_modules([str(root)]):
        if not module.ispkg or module.name in SHARED_PACKAGES or module.name.startswith("_"):
            continue
        if not (root / module.name / "definitions.py").is_file():
            raise FamilyError(f"platform_assets/{module.name}/ has no definitions.py: a family needs one "
                              f"(or, if it is a shared mechanism, add it to SHARED_PACKAGES in {Path(__file__).name})")
        names.append(module.name)
    triggers = {m.name for m in pkgutil.iter_modules(sensors.__path__) if m.ispkg}
    orphans = sorted(triggers - set(names))
    if orphans:
        raise FamilyError(f"sensors/{orphans[0]}/ belongs to no family (no platform_assets/{orphans[0]}/)")
    return [Family(name) for name in sorted(names)]
