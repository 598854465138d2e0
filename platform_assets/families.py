"""Finding the workload families: nothing lists them, the folders are the list.

A family is a package `platform_assets/<name>/` declaring its `OWNERS` (teams or emails)
with a `definitions.py` exporting `defs`; its triggers live in
`sensors/<name>/definitions.py` (optional) and its local demo data in
`platform_assets/<name>/demo.py` (optional, `seed_demo(settings, instance)`).
Every other package of `platform_assets/` is a shared mechanism and must be named in
`SHARED_PACKAGES`, so a family folder that lost its `definitions.py` fails loudly instead
of disappearing.

Like Dagster's `load_defs`, but only the modules named above are imported (nothing is
loaded just because it exists: demo and heavy modules stay out of load time). Loud
failures, each naming the file: a broken import, a missing `defs`, sensors of a family
that does not exist (a misspelled folder), an asset key outside the family's prefix, an
asset without owners.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg

SHARED_PACKAGES = frozenset({"provenance", "runtime", "command"})


class FamilyError(RuntimeError):
    """A family folder is incomplete or inconsistent; the message names the file."""


@dataclass(frozen=True)
class Family:
    name: str
    assets_package: str = "platform_assets"
    sensors_package: str | None = "sensors"

    @cached_property
    def definitions(self) -> dg.Definitions:
        """Assets, jobs, checks and resources (`platform_assets/<name>`) with the family's
        triggers (`sensors/<name>`), checked against the family contract."""
        parts = [_defs_of(f"{self.assets_package}.{self.name}.definitions")]
        if self.sensors_package is not None:
            parts.append(_defs_of(f"{self.sensors_package}.{self.name}.definitions"))
        merged = dg.Definitions.merge(*parts)
        outside = sorted(k.to_user_string() for k in _asset_keys(merged) if k.path[0] != self.name)
        if outside:
            raise FamilyError(f"{self.assets_package}/{self.name}: asset keys {outside} must start with '{self.name}/'")
        ownerless = sorted(k.to_user_string() for k, owners in _asset_owners(merged).items() if not owners)
        if ownerless:
            raise FamilyError(f"{self.assets_package}/{self.name}: assets {ownerless} have no owners (use OWNERS)")
        return merged

    @property
    def demo_seeder(self) -> Callable[[Any, dg.DagsterInstance], None] | None:
        """`seed_demo(settings, instance)` of the family's `demo.py`, if it has one."""
        if not (_package_dir(self.assets_package) / self.name / "demo.py").is_file():
            return None
        return importlib.import_module(f"{self.assets_package}.{self.name}.demo").seed_demo


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FamilyError(f"package {package!r} not found")
    return Path(next(iter(spec.submodule_search_locations)))


def _subpackages(package: str) -> set[str]:
    return {m.name for m in pkgutil.iter_modules([str(_package_dir(package))]) if m.ispkg}


def _asset_owners(defs: dg.Definitions) -> dict[dg.AssetKey, list[str]]:
    owners: dict[dg.AssetKey, list[str]] = {}
    for item in defs.assets or ():
        if isinstance(item, dg.AssetsDefinition):
            owners.update({spec.key: list(spec.owners) for spec in item.specs})
        elif isinstance(item, dg.AssetSpec):
            owners[item.key] = list(item.owners)
        elif isinstance(item, dg.SourceAsset):  # cannot carry owners: wrap it (observable_source_with)
            owners[item.key] = []
    return owners


def family_owners(key: dg.AssetKey | str | Sequence[str]) -> list[str]:
    """`OWNERS` of the family an asset key belongs to (its first part), declared once in
    `platform_assets/<family>/__init__.py`; none for a key outside every family (a test's)."""
    family = dg.AssetKey.from_coercible(key).path[0]
    if importlib.util.find_spec(f"platform_assets.{family}") is None:
        return []
    package = importlib.import_module(f"platform_assets.{family}")
    owners = getattr(package, "OWNERS", None)
    if not owners or not all(isinstance(o, str) for o in owners):
        raise FamilyError(f"{package.__file__} must declare OWNERS = ['team:<name>' or an email, ...]")
    return list(owners)


def _defs_of(module_name: str) -> dg.Definitions:
    module = importlib.import_module(module_name)  # a broken family raises here, loudly
    defs = getattr(module, "defs", None)
    if not isinstance(defs, dg.Definitions):
        raise FamilyError(f"{module.__file__} must export `defs = dg.Definitions(...)`")
    return defs


def _asset_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    """The keys a Definitions object declares, read without resolving it (resolving needs
    the shared resources, which only the whole code location has)."""
    keys: list[dg.AssetKey] = []
    for item in defs.assets or ():
        if isinstance(item, dg.AssetsDefinition):
            keys.extend(item.keys)
        elif isinstance(item, (dg.AssetSpec, dg.SourceAsset)):
            keys.append(item.key)
    return keys


def discover_families(
    assets_package: str = "platform_assets",
    sensors_package: str = "sensors",
    shared: frozenset[str] = SHARED_PACKAGES,
) -> list[Family]:
    """Every family, by name; raises `FamilyError` on an inconsistent tree."""
    root = _package_dir(assets_package)
    names = []
    for name in sorted(_subpackages(assets_package)):
        if name in shared or name.startswith("_"):
            continue
        if not (root / name / "definitions.py").is_file():
            raise FamilyError(
                f"{assets_package}/{name}/ has no definitions.py: a family needs one "
                f"(a shared mechanism belongs in SHARED_PACKAGES of {Path(__file__).name})"
            )
        names.append(name)
    triggers = _subpackages(sensors_package)
    orphans = sorted(triggers - set(names))
    if orphans:
        raise FamilyError(f"{sensors_package}/{orphans[0]}/ belongs to no family (no {assets_package}/{orphans[0]}/)")
    return [Family(name, assets_package, sensors_package if name in triggers else None) for name in names]
