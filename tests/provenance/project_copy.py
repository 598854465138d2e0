"""Load variants of a small throw-away project to compute code versions of edited code."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from pathlib import Path

from platform_assets.provenance import code_version_of

PACKAGE = "provenance_sample"


def load_asset_function(root: Path, files: dict[str, str], module: str, function: str):
    """Write `files` into `root/<PACKAGE>/`, import `module` and return `function`.

    Every variant uses the same package and module names (so names don't change the
    hash); modules are dropped from `sys.modules` afterwards so the next variant is fresh.
    """
    package_dir = root / PACKAGE
    package_dir.mkdir(parents=True, exist_ok=True)
    (package_dir / "__init__.py").write_text("")
    for name, text in files.items():
        (package_dir / name).write_text(textwrap.dedent(text))
    sys.path.insert(0, str(root))
    try:
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        importlib.invalidate_caches()
        return getattr(importlib.import_module(f"{PACKAGE}.{module}"), function)
    finally:
        sys.path.remove(str(root))


def version_of(tmp_path: Path, files: dict[str, str], **kwargs) -> str:
    root = tmp_path / uuid.uuid4().hex
    fn = load_asset_function(root, files, "assets", "enriched")
    return code_version_of(fn, roots=[root], **kwargs)
