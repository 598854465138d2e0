"""Automatic code versions: the Nix store-path idea applied to a Python function.

A code version is a hash of everything that decides what an asset computes:

* the asset function's source, AST-normalized (comments, docstrings and formatting do
  not count, a changed operator does);
* the source of every project function, class or constant it reaches, transitively:
  names it uses are resolved in its globals and closure; anything defined in a file under
  the project roots is followed, anything else (stdlib, site-packages) is not, and counts
  only through the declared package versions;
* declared external dependencies: image reference (by digest), external program hash,
  static configuration, versions of named distributions.

Everything here runs at import time of the code location, so it is cached per object and
only parses the sources it needs.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.metadata
import inspect
import json
import textwrap
import types
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_EXCLUDED_PARTS = {".venv", "site-packages", "dist-packages"}
_SIMPLE_TYPES = (str, int, float, bool, bytes, type(None))


def is_project_file(path: str | None, roots: tuple[Path, ...]) -> bool:
    if not path:
        return False
    resolved = Path(path).resolve()
    if _EXCLUDED_PARTS.intersection(resolved.parts):
        return False
    return any(resolved.is_relative_to(root) for root in roots)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


@lru_cache(maxsize=4096)
def _normalized_source(obj: Any, drop_decorators: bool) -> str:
    """`ast.dump` of the object's definition without docstrings (and, for the asset
    function itself, without its decorator, which holds graph wiring, not logic)."""
    source = textwrap.dedent(inspect.getsource(obj))
    tree = ast.parse(source)
    definition = tree.body[0]
    if drop_decorators and isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
        definition.decorator_list = []
    _strip_docstrings(tree)
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _code_names(code: types.CodeType) -> set[str]:
    """Every global/attribute name used by a code object and the code objects nested in it
    (comprehensions, lambdas and inner functions are separate code objects)."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _is_simple_value(value: Any, depth: int = 0) -> bool:
    if isinstance(value, _SIMPLE_TYPES):
        return True
    if depth < 3 and isinstance(value, (tuple, list, frozenset, set)):
        return len(value) <= 1000 and all(_is_simple_value(v, depth + 1) for v in value)
    if depth < 3 and isinstance(value, Mapping):
        return len(value) <= 1000 and all(
            _is_simple_value(k, depth + 1) and _is_simple_value(v, depth + 1)
            for k, v in value.items()
        )
    return False


def _stable_repr(value: Any) -> str:
    if isinstance(value, (set, frozenset)):
        return repr(sorted(value, key=repr))
    if isinstance(value, Mapping):
        return repr(sorted(((repr(k), _stable_repr(v)) for k, v in value.items())))
    return repr(value)


class _Collector:
    """Walks the project-local call graph from one function and fingerprints each node."""

    def __init__(self, roots: tuple[Path, ...]):
        self.roots = roots
        self.parts: dict[str, str] = {}
        self._seen: set[int] = set()

    def _is_local(self, obj: Any) -> bool:
        try:
            return is_project_file(inspect.getsourcefile(obj), self.roots)
        except TypeError:
            return False

    def add_function(self, fn: Callable, *, root: bool = False) -> None:
        fn = inspect.unwrap(fn)
        if id(fn) in self._seen or not isinstance(fn, types.FunctionType):
            return
        self._seen.add(id(fn))
        if not root and not self._is_local(fn):
            return
        name = f"{fn.__module__}:{fn.__qualname__}"
        self.parts[name] = _normalized_source(fn, root)
        self._follow_references(fn)

    def add_class(self, cls: type) -> None:
        if id(cls) in self._seen:
            return
        self._seen.add(id(cls))
        if not self._is_local(cls):
            return
        self.parts[f"{cls.__module__}:{cls.__qualname__}"] = _normalized_source(cls, False)
        for base in cls.__bases__:
            self.add_value(base)
        for member in vars(cls).values():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                member = member.fget
            if isinstance(member, types.FunctionType):
                self._follow_references(member)

    def add_value(self, value: Any, name: str | None = None) -> None:
        if isinstance(value, types.FunctionType):
            self.add_function(value)
        elif isinstance(value, type):
            self.add_class(value)
        elif isinstance(value, (types.MethodType,)):
            self.add_function(value.__func__)
        elif name is not None and _is_simple_value(value):
            self.parts[f"value:{name}"] = _stable_repr(value)
        elif hasattr(value, "__wrapped__") and callable(value):
            self.add_value(inspect.unwrap(value), name)
        elif self._is_local(type(value)):
            # an instance of a project class (e.g. an importer spec): its class counts, and
            # its field values when it is a plain dataclass of simple values
            self.add_class(type(value))
            if name is not None and dataclasses.is_dataclass(value):
                fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
                simple = {k: v for k, v in fields.items() if _is_simple_value(v)}
                self.parts[f"value:{name}"] = _stable_repr(simple)

    def _follow_references(self, fn: types.FunctionType) -> None:
        names = _code_names(fn.__code__)
        scope = f"{fn.__module__}:{fn.__qualname__}"
        # closure cells: values a factory captured (e.g. a command template)
        for var, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            self.add_value(value, f"{scope}.{var}")
        module_globals = fn.__globals__
        for name in names:
            if name not in module_globals:
                continue
            value = module_globals[name]
            if isinstance(value, types.ModuleType):
                if is_project_file(getattr(value, "__file__", None), self.roots):
                    for attr in names:
                        if hasattr(value, attr):
                            self.add_value(getattr(value, attr), f"{value.__name__}.{attr}")
                continue
            qualified = f"{fn.__module__}.{name}"
            self.add_value(value, qualified)


def _package_versions(packages: Iterable[str]) -> dict[str, str]:
    versions = {}
    for package in sorted(set(packages)):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not-installed"
    return versions


def code_version_parts(
    fn: Callable,
    *,
    externals: Mapping[str, Any] | None = None,
    packages: Iterable[str] = (),
    roots: Iterable[Path] | None = None,
) -> dict[str, str]:
    """What goes into the code version, by name (useful to explain a version change)."""
    collector = _Collector(tuple(Path(r).resolve() for r in (roots or (PROJECT_ROOT,))))
    collector.add_function(fn, root=True)
    parts = dict(collector.parts)
    for key, value in sorted((externals or {}).items()):
        parts[f"external:{key}"] = json.dumps(value, sort_keys=True, default=str)
    for package, version in _package_versions(packages).items():
        parts[f"package:{package}"] = version
    return parts


def code_version_of(
    fn: Callable,
    *,
    externals: Mapping[str, Any] | None = None,
    packages: Iterable[str] = (),
    roots: Iterable[Path] | None = None,
) -> str:
    """The automatic code version of `fn` (see module docstring)."""
    parts = code_version_parts(fn, externals=externals, packages=packages, roots=roots)
    digest = hashlib.sha256()
    for name in sorted(parts):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(parts[name].encode())
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def content_digest(*chunks: bytes | str) -> str:
    """sha256 of the given chunks, for content-addressed data versions."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk.encode() if isinstance(chunk, str) else chunk)
        digest.update(b"\0")
    return digest.hexdigest()
