"""Blob storage over `file://` and `s3://bucket/prefix` behind one API.

Families never touch boto3 or paths directly: the same code path serves a laptop
(`file://$PLATFORM_HOME/blob`) and production (S3 or an S3-compatible endpoint via
`AWS_ENDPOINT_URL`).

Atomic publishing: `publish_dir` uploads a directory under `<prefix>/_v/<version>/` and
only then writes the pointer `<prefix>/_CURRENT` (a single small object: atomic on S3, an
`os.replace` on disk). Readers resolve the pointer, so a failed or killed publish leaves
nothing visible.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dagster as dg
from pydantic import PrivateAttr

CURRENT_POINTER = "_CURRENT"
VERSIONS_DIR = "_v"


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    etag: str


class BlobNotFound(FileNotFoundError):
    pass


@lru_cache(maxsize=65536)
def _file_md5(path: str, size: int, mtime_ns: int) -> str:
    """The ETag a file would have on S3 (md5), cached by (size, mtime): a sensor listing
    a folder every tick reads each unchanged file once per process, not once per tick."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class BlobStorage(dg.ConfigurableResource):
    """Blob storage rooted at `url` (`PLATFORM_BLOB_URL`); keys are `/`-separated."""

    url: str
    aws_endpoint_url: str | None = None

    _client: Any = PrivateAttr(default=None)

    # ---- backend selection -------------------------------------------------------------
    @property
    def _parsed(self):
        parsed = urlparse(self.url)
        if parsed.scheme not in {"file", "s3"}:
            raise ValueError(f"blob url must start with file:// or s3://, got {self.url!r}")
        return parsed

    @property
    def is_s3(self) -> bool:
        return self._parsed.scheme == "s3"

    @property
    def _root_path(self) -> Path:
        if self._parsed.netloc:
            raise ValueError(f"file blob url must be absolute (file:///path), got {self.url!r}")
        return Path(self._parsed.path)

    @property
    def _bucket(self) -> str:
        return self._parsed.netloc

    def _s3_key(self, key: str) -> str:
        prefix = self._parsed.path.strip("/")
        return f"{prefix}/{key}" if prefix else key

    def _s3(self):
        if self._client is None:
            from dagster_aws.s3 import S3Resource

            self._client = S3Resource(endpoint_url=self.aws_endpoint_url).get_client()
        return self._client

    def url_of(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{key}"

    # ---- objects -----------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        if self.is_s3:
            try:
                return self._s3().get_object(Bucket=self._bucket, Key=self._s3_key(key))["Body"].read()
            except self._s3().exceptions.NoSuchKey as error:
                raise BlobNotFound(f"no blob {self.url_of(key)}") from error
        path = self._root_path / key
        if not path.is_file():
            raise BlobNotFound(f"no blob {self.url_of(key)}")
        return path.read_bytes()

    @contextlib.contextmanager
    def open_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[tuple[int, Iterator[bytes]]]:
        """``(size, chunks)`` of a blob, read lazily: a caller can refuse a blob by its size
        before reading any of it, and read a large one without holding it whole."""
        if self.is_s3:
            try:
                answer = self._s3().get_object(Bucket=self._bucket, Key=self._s3_key(key))
            except self._s3().exceptions.NoSuchKey as error:
                raise BlobNotFound(f"no blob {self.url_of(key)}") from error
            body = answer["Body"]
            try:
                yield int(answer["ContentLength"]), body.iter_chunks(chunk_size)
            finally:
                body.close()
            return
        path = self._root_path / key
        if not path.is_file():
            raise BlobNotFound(f"no blob {self.url_of(key)}")
        with open(path, "rb") as handle:
            yield os.fstat(handle.fileno()).st_size, iter(lambda: handle.read(chunk_size), b"")

    def write_bytes(self, key: str, data: bytes) -> None:
        if self.is_s3:
            self._s3().put_object(Bucket=self._bucket, Key=self._s3_key(key), Body=data)
            return
        path = self._root_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
            return True
        except BlobNotFound:
            return False

    def stat(self, key: str) -> BlobInfo:
        if self.is_s3:
            try:
                head = self._s3().head_object(Bucket=self._bucket, Key=self._s3_key(key))
            except self._s3().exceptions.ClientError as error:
                raise BlobNotFound(f"no blob {self.url_of(key)}") from error
            return BlobInfo(key, head["ContentLength"], head["ETag"].strip('"'))
        path = self._root_path / key
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {self.url_of(key)}") from None
        if not path.is_file():
            raise BlobNotFound(f"no blob {self.url_of(key)}")
        return BlobInfo(key, stat.st_size, _file_md5(str(path), stat.st_size, stat.st_mtime_ns))

    def list(self, prefix: str = "") -> list[BlobInfo]:
        """All blobs under `prefix`, sorted by key. The etag is the S3 ETag (md5 of the
        content for single-part uploads; on disk always the md5)."""
        if self.is_s3:
            infos = []
            paginator = self._s3().get_paginator("list_objects_v2")
            root = self._s3_key("")
            for page in paginator.paginate(Bucket=self._bucket, Prefix=self._s3_key(prefix)):
                for obj in page.get("Contents", []):
                    infos.append(BlobInfo(obj["Key"][len(root) :], obj["Size"], obj["ETag"].strip('"')))
            return sorted(infos, key=lambda i: i.key)
        base = self._root_path
        search = base / prefix if (base / prefix).is_dir() else (base / prefix).parent
        if not search.is_dir():
            return []
        keys = (p.relative_to(base).as_posix() for p in search.rglob("*") if p.is_file())
        return [self.stat(k) for k in sorted(keys) if k.startswith(prefix) and not k.endswith(".tmp")]

    # ---- atomic publishing -------------------------------------------------------------
    def publish_dir(self, local_dir: Path, prefix: str, manifest: dict | None = None) -> str:
        """Upload every file of `local_dir` as a new version of `prefix` and make it current
        with one final pointer write. Returns the key of the published version folder."""
        version = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        version_prefix = f"{prefix.rstrip('/')}/{VERSIONS_DIR}/{version}"
        files = sorted(p for p in Path(local_dir).rglob("*") if p.is_file())
        if not files:
            raise ValueError(f"nothing to publish: {local_dir} has no files")
        for path in files:
            self.write_bytes(f"{version_prefix}/{path.relative_to(local_dir).as_posix()}", path.read_bytes())
        pointer = {
            "version": version,
            "prefix": version_prefix,
            "files": [p.relative_to(local_dir).as_posix() for p in files],
            **(manifest or {}),
        }
        self.write_bytes(f"{prefix.rstrip('/')}/{CURRENT_POINTER}", json.dumps(pointer).encode())
        return version_prefix

    def current(self, prefix: str) -> dict | None:
        """The pointer of the current published version of `prefix`, or None."""
        try:
            return json.loads(self.read_bytes(f"{prefix.rstrip('/')}/{CURRENT_POINTER}"))
        except BlobNotFound:
            return None

    def resolve(self, prefix: str) -> str:
        pointer = self.current(prefix)
        if pointer is None:
            raise BlobNotFound(f"nothing published under {self.url_of(prefix)}")
        return pointer["prefix"]


def local_scratch_dir(prefix: str = "platform-") -> Path:
    """A fresh directory for staging inputs/outputs of one computation."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
