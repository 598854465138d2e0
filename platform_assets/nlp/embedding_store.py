"""Where cached goal embeddings live: one parquet shard per recipient in blob storage.

`$PLATFORM_BLOB_URL/nlp/embeddings/<model version>/recipient=<id>.parquet`, columns
`text_sha256` and `vector` (384 float32). Blob storage rather than a table in the goals
database: the goals database belongs to the hub (we only add our output tables), vectors are
bulk binary data, and the same code works on file:// and s3://. The model version in the path
(model name + package versions) means vectors of another model are never mixed in. A shard is
rewritten only when its recipient's texts changed, and then holds exactly the current texts
(removed goals drop out). Losing the cache costs time, never correctness.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from platform_assets.nlp.embeddings import DIMENSIONS
from resources.lazy_imports import lazy_import
from resources.shared.blob import BlobStorage

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")

PREFIX = "nlp/embeddings"


def shard_key(model_version: str, recipient_id: int) -> str:
    return f"{PREFIX}/{model_version}/recipient={recipient_id}.parquet"


def read_shard(blob: BlobStorage, key: str) -> dict[str, np.ndarray]:
    """The cached vectors of a shard; empty if it does not exist yet."""
    import pyarrow.parquet as pq

    if not blob.exists(key):
        return {}
    table = pq.read_table(io.BytesIO(blob.read_bytes(key)))
    vectors = table.column("vector").combine_chunks().values.to_numpy().reshape(-1, DIMENSIONS)
    return dict(zip(table.column("text_sha256").to_pylist(), vectors, strict=True))


def write_shard(blob: BlobStorage, key: str, cache: Mapping[str, np.ndarray], keep: Iterable[str]) -> int:
    """Write the vectors of the text hashes in `keep` (those of the current goals); returns rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    hashes = sorted(set(keep))
    flat = np.concatenate([cache[h] for h in hashes]).astype(np.float32) if hashes else np.empty(0, dtype=np.float32)
    table = pa.table(
        {
            "text_sha256": pa.array(hashes, pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), DIMENSIONS),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    blob.write_bytes(key, buf.getvalue())
    return len(hashes)
