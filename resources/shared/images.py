"""Container images per asset, referenced by digest.

An image is declared once, by its Dockerfile `docker/<name>.Dockerfile`; everything else
derives from that file name. `docker/images.json` maps the name to its reference,
`registry/name@sha256:...`, written by `docker/build.sh` after a push. The environment
can override one image with `PLATFORM_IMAGE_<NAME>`. The reference is part of the code
version of every asset that runs in that image, so a rebuilt image makes them stale.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from resources.settings import image_override, settings

DOCKER_DIR = Path(__file__).resolve().parents[2] / "docker"
IMAGES_FILE = DOCKER_DIR / "images.json"


def declared_images() -> list[str]:
    """Every image the repo declares: one per `docker/<name>.Dockerfile`."""
    return sorted(path.name.removesuffix(".Dockerfile") for path in DOCKER_DIR.glob("*.Dockerfile"))


@lru_cache(maxsize=1)
def _image_file_refs() -> dict[str, str]:
    if not IMAGES_FILE.exists():
        return {}
    return json.loads(IMAGES_FILE.read_text())


def image_ref(name: str) -> str:
    ref = image_override(name) or _image_file_refs().get(name) or f"open-data-platform/{name}:dev"
    if settings().is_k8s and "@sha256:" not in ref:
        raise ValueError(
            f"image {name!r} must be referenced by digest in k8s (got {ref!r}); "
            f"set PLATFORM_IMAGE_{name.upper()} or run docker/build.sh"
        )
    return ref


def k8s_op_tags(image: str, resources: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`dagster-k8s/config` tags: the step's pod runs `image` with these requests/limits."""
    requests = dict(resources or {"cpu": "250m", "memory": "512Mi"})
    container: dict[str, Any] = {
        "image": image_ref(image),
        "resources": {"requests": requests, "limits": {"memory": requests.get("memory", "512Mi")}},
    }
    return {"dagster-k8s/config": {"container_config": container}}
