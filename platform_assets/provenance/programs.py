"""The version of an external program: its own code and the libraries it runs with.

A program is a file or a folder (`programs/<name>/`). Its version hashes
* every file by relative name: Python files by their normalized AST (comments,
  docstrings and formatting do not count), every other file by its bytes;
* the installed versions of its dependencies, transitively, read from the program's own
  package metadata (`[project].dependencies` of its `pyproject.toml`): a new numpy changes
  what a numpy program computes as surely as an edit of its code.

On Kubernetes the program runs in its own image, whose digest is hashed as well.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

from platform_assets.provenance.packages import requirement_closure
from platform_assets.provenance.source_index import normalized_module

IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".git", ".mypy_cache", ".ruff_cache"}


def program_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"program path does not exist: {path}")
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not IGNORED_PARTS.intersection(p.relative_to(path).parts)
        and not any(part.endswith(".egg-info") for part in p.relative_to(path).parts)
        and p.suffix not in {".pyc", ".pyo"}
    )


def _file_fingerprint(file: Path) -> bytes:
    if file.suffix == ".py":
        try:
            return normalized_module(str(file)).encode()
        except SyntaxError:
            pass  # not valid Python: its bytes count
    return file.read_bytes()


def declared_dependencies(path: Path) -> list[str]:
    """`[project].dependencies` of the program's pyproject.toml (none without one)."""
    pyproject = (path if path.is_dir() else path.parent) / "pyproject.toml"
    if not pyproject.is_file():
        return []
    return list(tomllib.loads(pyproject.read_text()).get("project", {}).get("dependencies", []))


def program_version_parts(*paths: str | Path) -> dict[str, str]:
    """file -> fingerprint digest, `package:<name>` -> installed version."""
    parts: dict[str, str] = {}
    dependencies: list[str] = []
    for root in map(Path, paths):
        for file in program_files(root):
            name = file.name if file == root else file.relative_to(root).as_posix()
            parts[name] = hashlib.sha256(_file_fingerprint(file)).hexdigest()
        dependencies += declared_dependencies(root)
    for distribution, version in requirement_closure(dependencies).items():
        parts[f"package:{distribution}"] = version
    return parts


def program_version(*paths: str | Path) -> str:
    """sha256 over `program_version_parts`."""
    return hashlib.sha256(json.dumps(program_version_parts(*paths), sort_keys=True).encode()).hexdigest()
