"""BlobStorage behaves the same on a local folder and on a real S3 API server (moto),
and publishing is atomic: nothing is visible until the pointer is written."""

from __future__ import annotations

import pytest

from resources.shared.blob import BlobNotFound, BlobStorage


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.slow)])
def blob(request, tmp_path) -> BlobStorage:
    if request.param == "file":
        return BlobStorage(url=f"file://{tmp_path}/blob")
    endpoint = request.getfixturevalue("s3_env")
    bucket = request.getfixturevalue("s3_bucket")
    return BlobStorage(url=f"s3://{bucket}/root", aws_endpoint_url=endpoint.endpoint_url)


def test_write_read_list_stat(blob):
    blob.write_bytes("cases/a/config.json", b"{}")
    blob.write_bytes("cases/b/prior.parquet", b"12345")
    blob.write_bytes("other/x", b"x")
    assert blob.read_bytes("cases/a/config.json") == b"{}"
    assert [i.key for i in blob.list("cases/")] == ["cases/a/config.json", "cases/b/prior.parquet"]
    info = blob.stat("cases/b/prior.parquet")
    assert info.size == 5 and info.etag == "827ccb0eea8a706c4c34a16891f84e7b"  # md5, as S3's ETag
    blob.write_bytes("cases/b/prior.parquet", b"123456")
    assert blob.stat("cases/b/prior.parquet").etag != info.etag
    assert blob.exists("other/x") and not blob.exists("other/y")
    with pytest.raises(BlobNotFound, match="other/y"):
        blob.read_bytes("other/y")


def test_publish_is_atomic_and_versioned(blob, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "posterior.parquet").write_bytes(b"v1")
    first = blob.publish_dir(out, "results/case1")
    assert blob.resolve("results/case1") == first
    assert blob.read_bytes(f"{first}/posterior.parquet") == b"v1"

    (out / "posterior.parquet").write_bytes(b"v2")
    original = BlobStorage.write_bytes

    def fail_on_pointer(self, key, data):
        if key.endswith("_CURRENT"):
            raise OSError("killed before the pointer was written")
        return original(self, key, data)

    monkeypatch.setattr(BlobStorage, "write_bytes", fail_on_pointer)
    with pytest.raises(OSError):
        blob.publish_dir(out, "results/case1")
    monkeypatch.setattr(BlobStorage, "write_bytes", original)
    assert blob.resolve("results/case1") == first
    assert blob.read_bytes(f"{blob.resolve('results/case1')}/posterior.parquet") == b"v1"


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="file:// or s3://"):
        BlobStorage(url="gs://bucket/x").read_bytes("k")
