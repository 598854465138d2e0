"""Content hash of an external program's files: the part of its identity the image digest
does not cover when it runs locally (editable install, a script next to the code)."""

from __future__ import annotations

import hashlib
from pathlib import Path

IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".git"}


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"program path does not exist: {path}")
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not IGNORED_PARTS.intersection(p.parts)
        and not any(part.endswith(".egg-info") for part in p.parts)
        and p.suffix not in {".pyc", ".pyo"}
    )


def program_digest(*paths: str | Path) -> str:
    """sha256 over the relative names and contents of every file under ``paths``."""
    digest = hashlib.sha256()
    for root in map(Path, paths):
        for file in _files(root):
            name = file.name if file == root else file.relative_to(root).as_posix()
            digest.update(name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()
