"""What each project source file defines and what each definition uses, from its AST.

One parse per file gives, for every function and class (by qualified name):

* the digest of its normalized source: `ast` dump without docstrings, so comments, docstrings and
  formatting never count and a changed operator always does; functions also without their
  decorators (the asset function's decorator is graph wiring, not logic); classes as a
  *skeleton* (bases, decorators, fields, class constants) without their methods, which are
  hashed one by one only when reached (function granularity);
* the names it reads from module scope (Python's own `symtable`, so locals never pass for
  globals), the attribute chains it follows (`records.trajectory_records`, `self.merge`,
  `context.resources.lake.merge`), the names in its annotations and defaults, and the
  modules it imports inside its body.

The result is cached as JSON next to the bytecode (`__pycache__/<module>.prov-<tag>.json`,
keyed by size and mtime), so loading the code location parses only files that changed.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import symtable
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

# bump when the analysis changes: cached files of an older format are recomputed
FORMAT = 4
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_DOCSTRING_HOLDERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)


def _without_docstring(node: ast.AST, body: list[ast.stmt]) -> list[ast.stmt]:
    if (
        isinstance(node, _DOCSTRING_HOLDERS)
        and body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return body[1:]
    return body


def dump(node: Any, drop_decorators: bool = False, skeleton: bool = False) -> str:
    """Like `ast.dump(annotate_fields=False, include_attributes=False)`, without docstrings
    (and without the top node's decorators, or a class's methods, when asked)."""
    if isinstance(node, ast.AST):
        parts = []
        for name, value in ast.iter_fields(node):
            if name == "decorator_list" and drop_decorators:
                continue
            if name == "body":
                value = _without_docstring(node, value)
                if skeleton:
                    value = [statement for statement in value if not isinstance(statement, _DEFINITIONS)]
            parts.append(dump(value))
        return f"{type(node).__name__}({', '.join(parts)})"
    if isinstance(node, list):
        return "[" + ", ".join(dump(item) for item in node) + "]"
    return repr(node)


def digest(text: str) -> str:
    """What is stored and hashed of a normalized source: its sha256 (keeps caches small)."""
    return hashlib.sha256(text.encode()).hexdigest()


def _names_in(nodes: list[Any]) -> set[str]:
    """Names loaded anywhere in these expressions; string annotations are parsed too."""
    found: set[str] = set()
    for node in nodes:
        if node is None:
            continue
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
                found.add(child.id)
            elif isinstance(child, ast.Constant) and isinstance(child.value, str) and child.value.isidentifier():
                found.add(child.value)  # "ClassName" forward reference
            elif isinstance(child, ast.Constant) and isinstance(child.value, str):
                try:
                    found |= _names_in([ast.parse(child.value, mode="eval")])
                except SyntaxError:
                    pass
    return found


def _annotations(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr | None]:
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    found: list[ast.expr | None] = [a.annotation for a in every if a is not None]
    found.append(node.returns)
    for child in ast.walk(node):  # local `name: Type = ...` annotations
        if isinstance(child, ast.AnnAssign):
            found.append(child.annotation)
    return found


def _self_name(node: ast.FunctionDef | ast.AsyncFunctionDef, in_class: bool) -> str | None:
    """The instance (or class) parameter of a method: its attributes belong to its class."""
    if not in_class:
        return None
    if any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list):
        return None
    positional = [*node.args.posonlyargs, *node.args.args]
    return positional[0].arg if positional else None


class _Uses(ast.NodeVisitor):
    """Attribute chains and function-level imports of one definition's body."""

    def __init__(self, global_names: set[str], self_name: str | None):
        self.global_names = global_names
        self.self_name = self_name
        self.chains: set[tuple[str, ...]] = set()
        self.loose: set[str] = set()
        self.self_attrs: set[str] = set()
        self.imports: set[tuple[str, str]] = set()

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attrs = []
        base: ast.expr = node
        while isinstance(base, ast.Attribute):
            attrs.append(base.attr)
            base = base.value
        attrs.reverse()
        if isinstance(base, ast.Name) and base.id == self.self_name:
            self.self_attrs.add(attrs[0])
            self.loose.update(attrs[1:])
        elif isinstance(base, ast.Name) and base.id in self.global_names:
            self.chains.add((base.id, *attrs))
        else:
            self.loose.update(attrs)
        self.visit(base)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imports.add((alias.name, ""))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            for alias in node.names:
                self.imports.add((node.module, alias.name))


def _scope_globals(table: symtable.SymbolTable) -> set[str]:
    """Names a scope and every scope nested in it read from module scope (or builtins)."""
    found = {s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced()}
    for child in table.get_children():
        found |= _scope_globals(child)
    return found


def _tables_by_qualname(table: symtable.SymbolTable, prefix: str = "") -> dict[tuple[str, int], symtable.SymbolTable]:
    found: dict[tuple[str, int], symtable.SymbolTable] = {}
    for child in table.get_children():
        if child.get_type() not in ("function", "class"):
            continue
        qualname = prefix + child.get_name()
        found[(qualname, child.get_lineno())] = child
        inner = qualname + ("." if child.get_type() == "class" else ".<locals>.")
        found.update(_tables_by_qualname(child, inner))
    return found


def _analyse_function(
    node: ast.FunctionDef | ast.AsyncFunctionDef, table: symtable.SymbolTable | None, in_class: bool
) -> dict[str, Any]:
    global_names = _scope_globals(table) if table is not None else _names_in(node.body)
    uses = _Uses(global_names, _self_name(node, in_class))
    for statement in node.body:
        uses.visit(statement)
    defaults = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
    entries = {}
    for child in ast.walk(node):  # `return {"key": expression, ...}` (resource factories)
        if isinstance(child, ast.Return) and isinstance(child.value, ast.Dict):
            for key, value in zip(child.value.keys, child.value.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    entry = _Uses(global_names, None)
                    entry.visit(value)
                    entries[key.value] = {
                        "dump": digest(dump(value)),
                        "names": sorted(_names_in([value]) & global_names),
                        "chains": sorted(entry.chains),
                        "loose": sorted(entry.loose),
                    }
    return {
        "kind": "function",
        "dump": digest(dump(node)),
        "body": digest(dump(node, drop_decorators=True)),
        "names": sorted(global_names),
        "outer_names": sorted(_names_in(defaults)),
        "decorator_names": sorted(_names_in(node.decorator_list)),
        "annotation_names": sorted(_names_in(_annotations(node))),
        "chains": sorted(uses.chains),
        "loose": sorted(uses.loose),
        "self_attrs": sorted(uses.self_attrs),
        "imports": sorted(uses.imports),
        "returned_entries": entries,
    }


def _analyse_class(node: ast.ClassDef, table: symtable.SymbolTable | None) -> dict[str, Any]:
    statements = [s for s in _without_docstring(node, node.body) if not isinstance(s, _DEFINITIONS)]
    body_names = _names_in(statements)
    if table is not None:  # names the class body binds itself are not module names
        body_names -= {s.get_name() for s in table.get_symbols() if s.is_assigned() and not s.is_global()}
    uses = _Uses(body_names, None)
    for statement in statements:
        uses.visit(statement)
    outer = [*node.bases, *(k.value for k in node.keywords), *node.decorator_list]
    methods = {}
    for statement in node.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            methods[statement.name] = sorted(_decorator_labels(statement))
    return {
        "kind": "class",
        "dump": digest(dump(node, skeleton=True)),
        "names": sorted(body_names | _names_in(outer)),
        "annotation_names": sorted(_names_in([s.annotation for s in statements if isinstance(s, ast.AnnAssign)])),
        "chains": sorted(uses.chains),
        "loose": sorted(uses.loose),
        "methods": methods,
    }


def _decorator_labels(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """`property`, `functools.cached_property`, `field_validator` ... (the last name)."""
    labels = set()
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute):
            labels.add(target.attr)
        elif isinstance(target, ast.Name):
            labels.add(target.id)
    return labels


def _analyse(source: str, filename: str) -> dict[str, Any]:
    tree = ast.parse(source, filename)
    try:
        tables = _tables_by_qualname(symtable.symtable(source, filename, "exec"))
    except SyntaxError:
        tables = {}
    definitions: dict[str, Any] = {}
    lambdas: dict[str, list[str]] = {}

    def visit(node: ast.AST, prefix: str, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualname = prefix + child.name
                table = tables.get((qualname, child.lineno))
                definitions[qualname] = _analyse_function(child, table, in_class)
                visit(child, qualname + ".<locals>.", False)
            elif isinstance(child, ast.ClassDef):
                qualname = prefix + child.name
                definitions[qualname] = _analyse_class(child, tables.get((qualname, child.lineno)))
                visit(child, qualname + ".", True)
            else:
                if isinstance(child, ast.Lambda):
                    lambdas.setdefault(str(child.lineno), []).append(digest(dump(child)))
                visit(child, prefix, in_class)

    visit(tree, "", False)
    return {"definitions": definitions, "lambdas": lambdas, "module": digest(dump(tree))}


def _cache_path(source: Path) -> Path:
    """Next to the bytecode cache, like a .pyc: `__pycache__/<name>.prov-<tag>.json`."""
    return source.parent / "__pycache__" / f"{source.stem}.prov-{sys.implementation.cache_tag}.json"


def analysis(path: str) -> dict[str, Any]:
    """The analysis of one file (see module docstring), from the cache when current."""
    stat = os.stat(path)
    return _analysis(path, f"{FORMAT}:{stat.st_size}:{stat.st_mtime_ns}")


@lru_cache(maxsize=512)
def _analysis(path: str, stamp: str) -> dict[str, Any]:
    source = Path(path)
    cache = _cache_path(source)
    try:
        cached = json.loads(cache.read_text())
        if cached.get("stamp") == stamp:
            return cached
    except (OSError, ValueError):
        pass
    result = {"stamp": stamp, **_analyse(source.read_text(), str(source))}
    try:
        cache.parent.mkdir(exist_ok=True)
        temporary = cache.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(result))
        os.replace(temporary, cache)
    except OSError:  # read-only file system (k8s): just don't cache
        pass
    return result


def normalized_module(path: str) -> str:
    """Digest of the whole file, normalized (programs: Python files count by their AST)."""
    return analysis(path)["module"]
