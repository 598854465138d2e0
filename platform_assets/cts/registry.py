"""Resolve a CTS job's image name to its importer (or ``None``: nothing to import).

Importer modules are imported statically below; the image -> importer mapping is the
literal dict in ``importers/registry.py``. Processing state recorded on CTS jobs uses
the ``META_PREFIX`` field names below.
"""

from __future__ import annotations

from platform_assets.cts.importers import checkm2, gtdbtk
from platform_assets.cts.importers.base import Importer
from platform_assets.cts.importers.registry import IMPORTER_BY_IMAGE

META_PREFIX = "odp_import"
META_START = f"{META_PREFIX}_start"
META_COMPLETE = f"{META_PREFIX}_complete"
META_ERROR = f"{META_PREFIX}_error"
META_NO_OPERATION = f"{META_PREFIX}_no_operation"

IMPORTERS: dict[str, Importer] = {m.IMPORTER.name: m.IMPORTER for m in (checkm2, gtdbtk)}

_unknown = set(IMPORTER_BY_IMAGE.values()) - set(IMPORTERS)
if _unknown:
    raise RuntimeError(f"importers/registry.py maps images to unknown importers {_unknown}")
_mismatch = {i for i, imp in IMPORTERS.items() if IMPORTER_BY_IMAGE.get(imp.image_name) != i}
if _mismatch:
    raise RuntimeError(f"importers {_mismatch} are not mapped from their own image name")


def image_name_of(image: str) -> str:
    """``name[:tag][@digest]`` -> ``name`` (a registry port's colon is kept)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rindex(":")]
    return name


def importer_for_image(image_name: str) -> Importer | None:
    """The importer for a CTS image name (tag/digest ignored), or ``None``."""
    return IMPORTERS.get(IMPORTER_BY_IMAGE.get(image_name_of(image_name), ""))


def importer_for_job(job: dict) -> Importer | None:
    """The importer for a CTS job document (by ``image.name``)."""
    return importer_for_image((job.get("image") or {}).get("name") or "")
