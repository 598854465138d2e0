"""Version of an external program: the part of its identity the image digest does not cover
when it runs locally (editable install, a script next to the code).

The provenance core computes it (`platform_assets.provenance.program_version`): the
program's files (Python by normalized AST, other files by bytes) and the installed
versions of the dependencies its own `pyproject.toml` declares.
"""

from __future__ import annotations

from pathlib import Path

from platform_assets.provenance.programs import program_version


def program_digest(*paths: str | Path) -> str:
    """The program's version (see module docstring)."""
    return program_version(*paths)
