"""Installed versions of the distributions code imports, found from import names.

`numpy` is the distribution `numpy`; `sklearn` is `scikit-learn`. The direct lookup
(import name = distribution name) is cheap and covers most; the rest go through
`importlib.metadata.packages_distributions()`, which scans every installed distribution,
so its answer is cached on disk, keyed by the modification times of the site directories
(installing or removing a distribution changes them).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import sys
import sysconfig
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

NOT_INSTALLED = "not-installed"


@lru_cache(maxsize=4096)
def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=1)
def _dist_info_versions() -> dict[str, str]:
    """normalized name -> version from the `<name>-<version>.dist-info` folders on
    `sys.path`, first one wins: the answer of `importlib.metadata.version`, without parsing
    every METADATA file."""
    versions: dict[str, str] = {}
    for site in [p or "." for p in sys.path]:
        if not os.path.isdir(site):
            continue
        for entry in os.listdir(site):
            stem = entry.removesuffix(".dist-info")
            if stem != entry and stem.count("-") == 1:
                name, version = stem.split("-")
                versions.setdefault(normalize(name), version)
    return versions


@lru_cache(maxsize=1024)
def installed_version(distribution: str) -> str:
    found = _dist_info_versions().get(normalize(distribution))
    if found is not None:
        return found
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return NOT_INSTALLED


def _site_dirs() -> list[str]:
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    return sorted(p for p in paths if os.path.isdir(p))


def _cache_file() -> Path:
    return Path(__file__).parent / "__pycache__" / f"distributions-{sys.implementation.cache_tag}.json"


@lru_cache(maxsize=1)
def _distributions_by_import_name() -> dict[str, list[str]]:
    stamp = [f"{d}:{os.stat(d).st_mtime_ns}" for d in _site_dirs()]
    cache = _cache_file()
    try:
        cached = json.loads(cache.read_text())
        if cached["stamp"] == stamp:
            return cached["map"]
    except (OSError, ValueError, KeyError):
        pass
    mapping = {name: sorted(set(dists)) for name, dists in importlib.metadata.packages_distributions().items()}
    try:
        cache.parent.mkdir(exist_ok=True)
        temporary = cache.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"stamp": stamp, "map": mapping}))
        os.replace(temporary, cache)
    except OSError:
        pass
    return mapping


@lru_cache(maxsize=1024)
def distributions_of_module(module: str) -> tuple[str, ...]:
    """Distribution(s) providing the top-level package of `module`; () for the standard
    library and for project code."""
    top = module.split(".")[0]
    if not top or top in sys.stdlib_module_names or top == "__main__":
        return ()
    if installed_version(top) != NOT_INSTALLED:
        return (normalize(top),)
    return tuple(normalize(d) for d in _distributions_by_import_name().get(top, ()))


_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@lru_cache(maxsize=1)
def _requirements_cache() -> dict[str, list[str]]:
    """distribution -> its declared requirements, cached on disk for the installed set (the
    `.dist-info` folders on sys.path: installing or removing anything changes it)."""
    stamp = json.dumps(sorted(_dist_info_versions().items()))
    cache = _cache_file().with_name(f"requirements-{sys.implementation.cache_tag}.json")
    try:
        cached = json.loads(cache.read_text())
        if cached["stamp"] == stamp:
            return cached["requires"]
    except (OSError, ValueError, KeyError):
        pass
    requires: dict[str, list[str]] = {}
    for name in _dist_info_versions():
        try:
            requires[name] = list(importlib.metadata.requires(name) or ())
        except importlib.metadata.PackageNotFoundError:
            requires[name] = []
    try:
        cache.parent.mkdir(exist_ok=True)
        temporary = cache.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"stamp": stamp, "requires": requires}))
        os.replace(temporary, cache)
    except OSError:
        pass
    return requires


def _requires(distribution: str) -> list[str]:
    known = _requirements_cache()
    if distribution in known:
        return known[distribution]
    try:
        return list(importlib.metadata.requires(distribution) or ())
    except importlib.metadata.PackageNotFoundError:
        return []


def _requirement_name(requirement: str) -> str | None:
    """The normalized distribution a requirement string names (None for extras' ones)."""
    _, _, marker = requirement.partition(";")
    found = _REQUIREMENT_NAME.match(requirement)
    return normalize(found.group(1)) if found is not None and "extra" not in marker else None


@lru_cache(maxsize=1024)
def _required_names(distribution: str) -> tuple[str, ...]:
    return tuple(name for name in map(_requirement_name, _requires(distribution)) if name)


def requirement_closure(
    requirements: Iterable[str], skip: Callable[[str], bool] = lambda name: False
) -> dict[str, str]:
    """distribution -> installed version for requirement strings (as in pyproject.toml
    `dependencies`) and, transitively, what those distributions require. Requirements of
    extras are left out; other markers are not evaluated (a requirement for another
    platform shows up as not installed, which is stable). `skip(name)`: distributions left
    out together with what only they require."""
    versions: dict[str, str] = {}
    pending = [name for name in map(_requirement_name, requirements) if name]
    while pending:
        name = pending.pop()
        if name in versions or skip(name):
            continue
        versions[name] = installed_version(name)
        if versions[name] != NOT_INSTALLED:
            pending.extend(_required_names(name))
    return dict(sorted(versions.items()))
