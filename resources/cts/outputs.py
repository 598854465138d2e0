"""Read (and, for demos and tests, write) CTS output files named ``bucket/key``.

CTS job documents name outputs as S3 paths that start with the bucket (no ``s3://``).
``CTS_OUTPUTS_URL`` says where those buckets live:

- ``s3://`` (the default when ``PLATFORM_BLOB_URL`` is on S3): real buckets on the S3
  endpoint (``AWS_ENDPOINT_URL``), the CTS data plane;
- ``file:///some/root`` (the local default, ``$PLATFORM_BLOB_URL/cts-s3``): a directory
  standing in for S3, ``<root>/<bucket>/<key>``.

Both go through :class:`resources.blob.BlobStorage`, one per bucket.

Paths come from job documents, i.e. from outside: :func:`parse_s3_path` accepts only a
plain ``bucket/key`` (S3 bucket name, no empty, ``.`` or ``..`` segments, no leading
slash, printable, at most S3's 1,024 key bytes), so no path can leave its bucket's root
on disk or name something other than what it says. Reads are refused by size before a
byte is read (``max_file_bytes``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
from pydantic import PrivateAttr

from resources.cts.text import printable
from resources.shared.blob import BlobNotFound, BlobStorage

BUCKET_PATTERN = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # S3 bucket naming rules
MAX_KEY_BYTES = 1024  # S3's limit for an object key


class CtsOutputNotFound(FileNotFoundError):
    """A file named in the CTS job document is not in the object store."""


class InvalidOutputPath(ValueError):
    """A job document names an output path that is not a plain ``bucket/key``."""


class OutputTooLarge(ValueError):
    """An output file is larger than the importer may read (``max_file_bytes``)."""


@dataclass(frozen=True)
class S3Path:
    """A validated ``bucket/key`` path."""

    bucket: str
    key: str

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.key.split("/"))

    def is_within(self, root: S3Path) -> bool:
        """Strictly below ``root`` (same bucket, ``root``'s segments as a prefix)."""
        depth = len(root.segments)
        return self.bucket == root.bucket and len(self.segments) > depth and self.segments[:depth] == root.segments

    def __str__(self) -> str:
        return f"{self.bucket}/{self.key}"


def parse_s3_path(path: object) -> S3Path:
    """``"bucket/some/key"`` -> ``S3Path``; :class:`InvalidOutputPath` for anything else
    (a scheme, a bad bucket name, empty/``.``/``..`` segments, control characters...)."""

    def invalid(why: str) -> InvalidOutputPath:
        shown = printable(path, 200) if isinstance(path, str) else type(path).__name__
        return InvalidOutputPath(f"not a CTS S3 path ('bucket/key'): {shown}: {why}")

    if not isinstance(path, str):
        raise invalid("not a string")
    if not path.isprintable():
        raise invalid("contains control characters, line breaks or lone surrogates")
    if "://" in path:
        raise invalid("has a scheme (CTS paths start with the bucket)")
    bucket, _, key = path.partition("/")
    if not BUCKET_PATTERN.fullmatch(bucket):
        raise invalid("the bucket is not an S3 bucket name")
    if not key:
        raise invalid("no key after the bucket")
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise invalid("empty, '.' or '..' segments (a path must not leave its folder or be absolute)")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise invalid(f"the key is longer than S3's {MAX_KEY_BYTES} bytes")
    return S3Path(bucket, key)


def split_s3_path(path: str) -> tuple[str, str]:
    """``"bucket/some/key"`` -> ``("bucket", "some/key")`` (see :func:`parse_s3_path`)."""
    parsed = parse_s3_path(path)
    return parsed.bucket, parsed.key


class CtsObjectStore(dg.ConfigurableResource):
    """CTS output files by ``bucket/key`` path, under ``url`` (``s3://`` or ``file:///root``).

    ``max_file_bytes`` bounds what an import may read from one file (checked from the
    object's size before reading): a step has a memory limit, a report does not.
    """

    url: str
    aws_endpoint_url: str | None = None
    max_file_bytes: int = 64 * 1024 * 1024

    _buckets: dict = PrivateAttr(default_factory=dict)

    def _bucket_storage(self, bucket: str) -> BlobStorage:
        if bucket not in self._buckets:
            root = "s3://" if self.url.rstrip("/") == "s3:" else self.url.rstrip("/") + "/"
            self._buckets[bucket] = BlobStorage(url=f"{root}{bucket}", aws_endpoint_url=self.aws_endpoint_url)
        return self._buckets[bucket]

    @contextlib.contextmanager
    def open_chunks(self, path: str, chunk_size: int = 1 << 20) -> Iterator[Iterator[bytes]]:
        """The chunks of an output file, read lazily; :class:`OutputTooLarge` before any
        byte is read when it is over ``max_file_bytes``."""
        bucket, key = split_s3_path(path)
        try:
            with self._bucket_storage(bucket).open_chunks(key, chunk_size) as (size, chunks):
                if size > self.max_file_bytes:
                    raise OutputTooLarge(
                        f"CTS output file {path!r} is {size:,} bytes, more than the {self.max_file_bytes:,} "
                        "an import reads (CtsObjectStore.max_file_bytes)"
                    )
                yield chunks
        except BlobNotFound as e:
            raise CtsOutputNotFound(f"CTS output file {path!r} not found in {self.url}") from e

    def read_bytes(self, path: str) -> bytes:
        with self.open_chunks(path) as chunks:
            return b"".join(chunks)

    def write_bytes(self, path: str, data: bytes) -> None:
        bucket, key = split_s3_path(path)
        self._bucket_storage(bucket).write_bytes(key, data)
