"""Read (and, for demos and tests, write) CTS output files named ``bucket/key``.

CTS job documents name outputs as S3 paths that start with the bucket (no ``s3://``).
``CTS_OUTPUTS_URL`` says where those buckets live:

- ``s3://`` (the default when ``PLATFORM_BLOB_URL`` is on S3): real buckets on the S3
  endpoint (``AWS_ENDPOINT_URL``), the CTS data plane;
- ``file:///some/root`` (the local default, ``$PLATFORM_BLOB_URL/cts-s3``): a directory
  standing in for S3, ``<root>/<bucket>/<key>``.

Both go through :class:`resources.blob.BlobStorage`, one per bucket.
"""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from resources.shared.blob import BlobNotFound, BlobStorage


class CtsOutputNotFound(FileNotFoundError):
    """A file named in the CTS job document is not in the object store."""


class InvalidOutputPath(ValueError):
    """A job document names an output path that is not ``bucket/key``."""


def split_s3_path(path: str) -> tuple[str, str]:
    """``"bucket/some/key"`` -> ``("bucket", "some/key")``; rejects ``s3://`` and bad paths."""
    bucket, _, key = path.strip().partition("/")
    if "://" in path or len(bucket) < 3 or not key:
        raise InvalidOutputPath(f"not a CTS S3 path ('bucket/key' without scheme): {path!r}")
    return bucket, key


class CtsObjectStore(dg.ConfigurableResource):
    """CTS output files by ``bucket/key`` path, under ``url`` (``s3://`` or ``file:///root``)."""

    url: str
    aws_endpoint_url: str | None = None

    _buckets: dict = PrivateAttr(default_factory=dict)

    def _bucket_storage(self, bucket: str) -> BlobStorage:
        if bucket not in self._buckets:
            root = "s3://" if self.url.rstrip("/") == "s3:" else self.url.rstrip("/") + "/"
            self._buckets[bucket] = BlobStorage(url=f"{root}{bucket}", aws_endpoint_url=self.aws_endpoint_url)
        return self._buckets[bucket]

    def read_bytes(self, path: str) -> bytes:
        bucket, key = split_s3_path(path)
        try:
            return self._bucket_storage(bucket).read_bytes(key)
        except BlobNotFound as e:
            raise CtsOutputNotFound(f"CTS output file {path!r} not found in {self.url}") from e

    def write_bytes(self, path: str, data: bytes) -> None:
        bucket, key = split_s3_path(path)
        self._bucket_storage(bucket).write_bytes(key, data)
