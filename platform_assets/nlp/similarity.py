"""Which goals of one recipient are the same goal: scores, guard, links.

Two scorers, chosen by run config; both give unit vectors, so a dot product is the cosine, and
both score a pair from its two texts only (never from the recipient's other goals):
- ``minilm`` (default): all-MiniLM-L6-v2 sentence embeddings (`embeddings.py`), cached by
  text hash. Understands paraphrases.
- ``tfidf``: character n-gram TF-IDF with a fixed reference IDF (`lexical.py`). Fast, robust
  to typos, case and word order; blind to synonyms.
A pair is linked when its score reaches the method's threshold AND the meaning guard
(`guard.py`) finds no number, negation, date, opposite, subject or name that differs.
Thresholds are calibrated on human labels (`bench/eval_nlp_labels.py`, docs/nlp.md).
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import TYPE_CHECKING, Literal

from platform_assets.nlp.embeddings import MODEL_PACKAGES, EmbeddingStats, cached_embeddings
from platform_assets.nlp.guard import facts_of, same_word, veto
from platform_assets.nlp.lexical import tfidf_vectors
from platform_assets.nlp.linking import EdgeFilter, SimilarPairs, linked_pairs
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")

Method = Literal["tfidf", "minilm"]
METHODS: tuple[str, ...] = ("minilm", "tfidf")

# Chosen on the calibration split of the human-labelled pairs, guard on, precision first: the
# lowest threshold whose precision there reaches 80 % (else the best F0.5; tfidf never reaches
# 80 %). `bench/eval_nlp_labels.py` prints the choice; tests/nlp/test_calibration.py checks it.
DEFAULT_THRESHOLDS: dict[str, float] = {"minilm": 0.89, "tfidf": 0.65}

# Packages whose versions change the output of each method (part of the provenance).
METHOD_PACKAGES: dict[str, list[str]] = {
    "tfidf": ["scikit-learn", "numpy", "scipy"],
    "minilm": [*MODEL_PACKAGES, "numpy", "scipy"],
}

VectorCache = MutableMapping[str, "np.ndarray"]


def text_vectors(
    texts: Sequence[str], method: str, cache: VectorCache | None = None, stats: EmbeddingStats | None = None
):
    """One unit vector per text (dense for minilm, sparse for tfidf)."""
    if method == "tfidf":
        return tfidf_vectors(texts)
    if method == "minilm":
        return cached_embeddings(texts, cache if cache is not None else {}, stats)
    raise ValueError(f"unknown similarity method {method!r}; expected one of {METHODS}")


# Word vectors for the guard's subject rule, shared by all recipients of a process (the same
# few subject words recur: "recipient", "program", "staff", ...). Keyed by text hash like goals.
_WORD_VECTORS: dict[str, np.ndarray] = {}
_WORD_VECTORS_LIMIT = 100_000


def _differing_subjects(a: str, b: str) -> tuple[str, str] | None:
    sa, sb = facts_of(a).subject, facts_of(b).subject
    return (sa, sb) if sa and sb and not same_word(sa, sb) else None


def guard_filter(texts: Sequence[str], method: str) -> EdgeFilter:
    """The guard as an edge filter over indices into `texts`. With minilm, close synonyms
    (cosine of the two words' embeddings) do not count as a different subject; the words a
    batch of edges needs are embedded together, once per process."""
    word_similarity = None
    if method == "minilm":

        def word_similarity(a: str, b: str) -> float:
            va, vb = cached_embeddings([a, b], _WORD_VECTORS)
            return float(va @ vb)

    def accept(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        pairs = list(zip(left.tolist(), right.tolist(), strict=True))
        if word_similarity is not None:
            words = {w for i, j in pairs if (d := _differing_subjects(texts[i], texts[j])) for w in d}
            if len(_WORD_VECTORS) > _WORD_VECTORS_LIMIT:
                _WORD_VECTORS.clear()
            cached_embeddings(sorted(words), _WORD_VECTORS)  # one batch for the words not seen yet
        return np.fromiter(
            (veto(texts[i], texts[j], word_similarity) is None for i, j in pairs), dtype=bool, count=len(pairs)
        )

    return accept


def similar_pairs(
    texts: Sequence[str],
    method: str,
    threshold: float,
    *,
    guard: bool = True,
    cache: VectorCache | None = None,
    stats: EmbeddingStats | None = None,
) -> SimilarPairs:
    """Links between `texts` (indices) whose components are the duplicate groups.

    Identical texts (one goal copied onto several grants: common) are scored once and chained
    to their first occurrence with score 1.0; links between distinct texts go to first
    occurrences. The result is a maximum spanning forest of the full goal graph."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"similarity threshold must be in (0, 1], got {threshold}")
    if method not in METHODS:
        raise ValueError(f"unknown similarity method {method!r}; expected one of {METHODS}")
    if len(texts) < 2:
        return SimilarPairs.empty()
    unique, first, inverse = np.unique(np.asarray(texts, dtype=object), return_index=True, return_inverse=True)
    unique_texts = [str(t) for t in unique]
    vectors = text_vectors(unique_texts, method, cache, stats)
    accept = guard_filter(unique_texts, method) if guard else None
    links = linked_pairs(vectors, threshold, accept)
    copies = np.flatnonzero(first[inverse] != np.arange(len(texts)))  # later occurrences of a text
    left = np.concatenate([first[links.left], first[inverse[copies]]])
    right = np.concatenate([first[links.right], copies])
    score = np.concatenate([links.score, np.ones(len(copies))])
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    order = np.lexsort((hi, lo))
    return SimilarPairs(lo[order].astype(np.int64), hi[order].astype(np.int64), score[order])
