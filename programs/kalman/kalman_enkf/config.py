"""The run configuration (cfg.json) and its validation.

Paths in the config file are relative to the config file's folder, so a case folder staged
anywhere (a temp dir, a pod's emptyDir) runs unchanged, and they must stay inside it: an
absolute path or one that climbs out (``..``, a symbolic link) is an error. A case reads only
the files staged with it, so its declared inputs are all it depends on (another case's
``prior.parquet`` is not reachable by naming it). Paths from the command line
(``--output-dir``) and the environment (``OUTPUT_PATH``) are the caller's choice, relative to
the current directory, as for any command-line tool.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


class InputError(ValueError):
    """Invalid input; the message names the problem. The CLI exits with status 2."""


KNOWN_KEYS = {
    "prior",
    "observations",
    "output_dir",
    "inflation",
    "localization_radius",
    "es_mda_iterations",
    "seed",
}


@dataclass(frozen=True)
class RunConfig:
    prior: Path
    observations: Path
    output_dir: Path
    inflation: float = 1.0
    localization_radius: float | None = None
    es_mda_iterations: int = 1
    seed: int | None = None


def _number(raw: dict, key: str, default, *, kind=float, minimum=None, exclusive=False):
    value = raw.get(key, default)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (kind is int and not float(value).is_integer())
    ):
        raise InputError(f"config '{key}' must be a {kind.__name__}, got {value!r}")
    value = kind(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError(f"config '{key}' must be finite, got {value!r}")
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        relation = ">" if exclusive else ">="
        raise InputError(f"config '{key}' must be {relation} {minimum}, got {value!r}")
    return value


def inside(base: Path, key: str, value: str) -> Path:
    """``base / value`` when that names a path inside ``base``; else an `InputError`.

    Checked on the words (absolute, ``..``) and on the resolved path, so a symbolic link
    inside the folder that points out of it is refused too."""
    relative = Path(value)
    if relative.is_absolute() or ".." in relative.parts:
        raise InputError(
            f"config '{key}' must be a path inside the config file's folder (relative, without '..'), got {value!r}"
        )
    path = base / relative
    if not path.resolve().is_relative_to(base.resolve()):
        raise InputError(f"config '{key}' = {value!r} leads outside the config file's folder")
    return path


def load_config(path: str | os.PathLike, output_dir: str | None = None) -> RunConfig:
    """Read and validate cfg.json. ``output_dir`` (CLI flag) wins over the config key,
    which wins over the ``OUTPUT_PATH`` environment variable (Nix's ``$out``)."""
    config_path = Path(path)
    if not config_path.is_file():
        raise InputError(f"config file not found: {config_path}")
    try:
        raw = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"config file {config_path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError(f"config file {config_path} must contain a JSON object")
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise InputError(f"config has unknown keys {unknown}; known keys: {sorted(KNOWN_KEYS)}")

    base = config_path.parent

    def file_key(key: str, default: str) -> Path:
        value = raw.get(key, default)
        if not isinstance(value, str) or not value:
            raise InputError(f"config '{key}' must be a file path, got {value!r}")
        return inside(base, key, value)

    if output_dir:
        out = Path.cwd() / output_dir
    elif raw.get("output_dir"):
        if not isinstance(raw["output_dir"], str):
            raise InputError(f"config 'output_dir' must be a folder path, got {raw['output_dir']!r}")
        out = inside(base, "output_dir", raw["output_dir"])
    elif os.environ.get("OUTPUT_PATH"):
        out = Path.cwd() / os.environ["OUTPUT_PATH"]
    else:
        raise InputError("no output directory: pass --output-dir, set 'output_dir' or OUTPUT_PATH")

    return RunConfig(
        prior=file_key("prior", "prior.parquet"),
        observations=file_key("observations", "observations.parquet"),
        output_dir=out,
        inflation=_number(raw, "inflation", 1.0, minimum=0.0, exclusive=True),
        localization_radius=_number(raw, "localization_radius", None, minimum=0.0, exclusive=True),
        es_mda_iterations=_number(raw, "es_mda_iterations", 1, kind=int, minimum=1),
        seed=_number(raw, "seed", None, kind=int, minimum=0),
    )
