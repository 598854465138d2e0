"""Resources every family may use: blob storage, container images, the Pipes client.

`shared_resources()` binds them once for the whole code location (keys `blob`, `pipes`).
"""

from __future__ import annotations

from typing import Any

from resources.settings import PlatformSettings, from_env, settings
from resources.shared.blob import BlobStorage
from resources.shared.pipes import k8s_pipes_client, local_pipes_client


def shared_resources(current: PlatformSettings | None = None) -> dict[str, Any]:
    """`blob` (PLATFORM_BLOB_URL) and `pipes` (a local subprocess runner, or a pod per
    program when PLATFORM_ENV=k8s)."""
    current = current or settings()
    return {
        "blob": BlobStorage(
            url=from_env("PLATFORM_BLOB_URL", current.blob_url),
            aws_endpoint_url=from_env("AWS_ENDPOINT_URL"),
        ),
        "pipes": k8s_pipes_client() if current.is_k8s else local_pipes_client(),
    }
