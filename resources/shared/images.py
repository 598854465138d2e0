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
from resources.shared.pods import (
    K8S_CONFIG_TAG,
    deep_merge,
    family_of,
    family_secret_env,
    labels,
    resources_with_limits,
)

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


def k8s_op_tags(
    image: str,
    resources: Mapping[str, str] | None = None,
    *,
    key: Any = None,
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`dagster-k8s/config` tags of a step: its pod runs `image` with these requests (and
    equal limits), carries its family's label and gets its family's secret references only
    (asset ``key`` -> family). ``base`` is the asset's own `dagster-k8s/config`, merged on
    top (e.g. API access for a step that starts pods)."""
    family = family_of(key)
    requests = dict(resources or {"cpu": "250m", "memory": "512Mi"})
    container: dict[str, Any] = {"image": image_ref(image), "resources": resources_with_limits(requests)}
    secrets = family_secret_env(family)
    if secrets:
        container["env"] = secrets
    config = {
        "container_config": container,
        "pod_template_spec_metadata": {"labels": labels(family, "step")},
    }
    if isinstance(base, str):  # a tag given as JSON text
        base = json.loads(base)
    return {K8S_CONFIG_TAG: deep_merge(config, base or {})}
