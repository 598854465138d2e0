"""Which importer handles a CTS job: chosen by the job's image *name* (never tag/digest).

Every module of this package other than `base` and `registry` declares one importer,
``IMPORTER = Importer(name=<module name>, image_name=..., ...)``; this module imports each
of them when the code location loads and maps image names to them. That object is the
only declaration: the asset, job, partitions, sensor routing and tests derive from it.
Nothing in a Kafka message, a job document or the environment can name a module: only
files of this package, reviewed like any code.

To add an importer: write ``importers/<name>.py`` with its ``IMPORTER`` (and a test).
A module without an importer, a name that is not its module's, or two importers of one
image fail loading with a message naming the file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any

from platform_assets.cts import importers as _package
from platform_assets.cts.importers.base import Importer

NOT_IMPORTERS = {"base", "registry"}


def _discover() -> dict[str, Importer]:
    found: dict[str, Importer] = {}
    by_image: dict[str, str] = {}
    for module_info in sorted(pkgutil.iter_modules(_package.__path__), key=lambda m: m.name):
        if module_info.name in NOT_IMPORTERS or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_package.__name__}.{module_info.name}")
        importer = getattr(module, "IMPORTER", None)
        if not isinstance(importer, Importer):
            raise RuntimeError(f"{module.__file__}: an importer module must declare IMPORTER = Importer(...)")
        if importer.name != module_info.name:
            raise RuntimeError(
                f"{module.__file__}: IMPORTER.name is {importer.name!r}, "
                f"it must be the module name {module_info.name!r}"
            )
        if importer.image_name in by_image:
            raise RuntimeError(
                f"image {importer.image_name!r} is claimed by importers "
                f"{by_image[importer.image_name]!r} and {importer.name!r}"
            )
        if image_name_of(importer.image_name) != importer.image_name:
            raise RuntimeError(
                f"{module.__file__}: image_name {importer.image_name!r} must be a "
                "bare image name, without tag or digest"
            )
        by_image[importer.image_name] = importer.name
        found[importer.name] = importer
    return found


def image_name_of(image: str) -> str:
    """``name[:tag][@digest]`` -> ``name`` (a registry port's colon is kept)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rindex(":")]
    return name


IMPORTERS: Mapping[str, Importer] = _discover()
IMPORTER_BY_IMAGE: Mapping[str, Importer] = {i.image_name: i for i in IMPORTERS.values()}


def importer_for_image(image_name: str) -> Importer | None:
    """The importer for a CTS image name (tag/digest ignored), or ``None``."""
    return IMPORTER_BY_IMAGE.get(image_name_of(image_name))


def job_image_name(job: Mapping[str, Any]) -> str | None:
    """A CTS job document's ``image.name``, or ``None`` where it has none (no ``image``
    object, or a name that is no non-empty string): the one reading of that field."""
    image = job.get("image")
    name = image.get("name") if isinstance(image, Mapping) else None
    return name if isinstance(name, str) and name else None


def importer_for_job(job: Mapping[str, Any]) -> Importer | None:
    """The importer for a CTS job document (by ``image.name``), or ``None``."""
    name = job_image_name(job)
    return importer_for_image(name) if name is not None else None
