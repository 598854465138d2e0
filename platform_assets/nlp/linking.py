"""All pairs of a recipient, in bounded memory: the strongest links that hold each group together.

Groups are the connected components of the graph "score >= threshold and the guard agrees".
Listing every edge of that graph is quadratic in the worst case (a recipient with a thousand
copies of one goal has half a million); a group needs far fewer. So rows are scored one block
at a time against the later rows (upper triangle; at most `cell_budget` scores in memory), the
block's accepted edges are merged with the links kept so far, and only a MAXIMUM SPANNING
FOREST is kept: at most n - 1 links, the same components as the full graph (exact, not
approximate), and, by the cut property, every goal keeps its single best match. A group's
smallest kept score is its weakest necessary link (what a reviewer should look at for
chaining), its largest the strongest pair.

Memory: O(block x n) scores + O(n) kept links. Time: one matrix product per block (dense
embeddings: BLAS; sparse tf-idf: scipy's sparse product), a spanning forest over the kept links
and the block's edges, and the guard on the forest's new edges only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from platform_assets.nlp.embeddings import usable_cpus
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")

# Scores materialised at once (block rows x columns): 32 M float32 = 128 MB (+ a 32 MB mask).
CELL_BUDGET = 32_000_000
SPARSE_CELL_COST = 4
# float32 dot products of identical unit vectors can land just below 1.0.
FLOAT_TOLERANCE = 1e-6

# Vectorised veto over candidate edges: (left indices, right indices) -> keep mask.
EdgeFilter = Callable[["np.ndarray", "np.ndarray"], "np.ndarray"]


@dataclass(frozen=True)
class SimilarPairs:
    """Pairs (left[k], right[k]) with left < right, indices into the scored list, and their score."""

    left: np.ndarray
    right: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.score)

    @staticmethod
    def empty() -> SimilarPairs:
        none = np.empty(0, dtype=np.int64)
        return SimilarPairs(none, none, np.empty(0))


def sparse_nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.nonzero` for a mostly-False 2-D mask, ~8x less scanning: find the non-zero 8-byte
    words first, then the True bytes inside them (np.nonzero visits every byte)."""
    flat = np.ascontiguousarray(mask).reshape(-1).view(np.uint8)
    whole = len(flat) - len(flat) % 8
    words = np.flatnonzero(flat[:whole].view(np.uint64))
    candidates = (words[:, None] * 8 + np.arange(8)).reshape(-1)
    hits = np.concatenate([candidates[flat[candidates] != 0], whole + np.flatnonzero(flat[whole:])])
    return np.divmod(hits, mask.shape[1])


def block_edges(vectors, start: int, stop: int, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (i, j, score), i in [start, stop), j > i, with score >= threshold."""
    import scipy.sparse as sp

    sims = vectors[start:stop] @ vectors[start:].T
    if sp.issparse(sims):
        sims = sims.tocoo()
        rows, cols, vals = sims.row, sims.col, sims.data
        keep = vals >= threshold - FLOAT_TOLERANCE
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
    else:
        rows, cols = sparse_nonzero(sims >= threshold - FLOAT_TOLERANCE)
        vals = sims[rows, cols]
    upper = cols > rows  # columns are offset by `start` like the rows: strict upper triangle
    return (
        rows[upper].astype(np.int64) + start,
        cols[upper].astype(np.int64) + start,
        np.minimum(vals[upper].astype(np.float64), 1.0),
    )


def maximum_spanning_forest(n: int, left: np.ndarray, right: np.ndarray, score: np.ndarray) -> SimilarPairs:
    """The heaviest forest with the same components as the edges (scipy's minimum spanning tree
    on 2 - score: always > 0, since csgraph reads a zero weight as "no edge")."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import minimum_spanning_tree

    if len(score) == 0:
        return SimilarPairs.empty()
    graph = sp.csr_matrix((2.0 - score, (left, right)), shape=(n, n))
    tree = minimum_spanning_tree(graph).tocoo()
    lo, hi = np.minimum(tree.row, tree.col).astype(np.int64), np.maximum(tree.row, tree.col).astype(np.int64)
    order = np.lexsort((hi, lo))
    return SimilarPairs(lo[order], hi[order], np.minimum(2.0 - tree.data[order], 1.0))


def threadpool_limits(limit: int, user_api: str):
    from threadpoolctl import threadpool_limits as limits

    return limits(limits=limit, user_api=user_api)


def linked_pairs(
    vectors, threshold: float, accept: EdgeFilter | None = None, cell_budget: int = CELL_BUDGET
) -> SimilarPairs:
    """A maximum spanning forest of {(i, j): score >= threshold and accept(i, j)}.

    `accept` (the guard, Python, slow per pair) is asked only about edges that would enter the
    forest: the forest of the block's unfiltered edges is computed, its new edges are judged,
    rejected ones are dropped and the forest recomputed until every new edge is accepted. The
    result is exact (an edge left out of a forest of a superset of the accepted graph can never
    be in the accepted graph's forest) and the guard runs about n times, not once per edge."""
    import scipy.sparse as sp

    n = vectors.shape[0]
    if n < 2:
        return SimilarPairs.empty()
    if sp.issparse(vectors):  # a sparse product stores ~16 bytes per score (indices + value), not 4
        cell_budget //= SPARSE_CELL_COST
    block = max(1, min(n, cell_budget // n))
    with threadpool_limits(usable_cpus(), user_api="blas"):  # BLAS would start one thread per host core
        return _link_blocks(vectors, n, block, threshold, accept)


def _link_blocks(vectors, n: int, block: int, threshold: float, accept: EdgeFilter | None) -> SimilarPairs:
    kept = SimilarPairs.empty()
    for start in range(0, n, block):
        left, right, score = block_edges(vectors, start, min(start + block, n), threshold)
        accepted = np.empty(0, dtype=np.int64)  # keys i * n + j of edges the guard accepted
        while len(score):
            forest = maximum_spanning_forest(
                n,
                np.concatenate([kept.left, left]),
                np.concatenate([kept.right, right]),
                np.concatenate([kept.score, score]),
            )
            if accept is None:
                kept = forest
                break
            keys = forest.left * n + forest.right
            unjudged = ~_member(keys, np.concatenate([kept.left * n + kept.right, accepted]))
            ok = accept(forest.left[unjudged], forest.right[unjudged])
            accepted = np.concatenate([accepted, keys[unjudged][ok]])
            if ok.all():
                kept = forest
                break
            rejected = _member(left * n + right, keys[unjudged][~ok])
            left, right, score = left[~rejected], right[~rejected], score[~rejected]
    return kept


def _member(keys: np.ndarray, among: np.ndarray) -> np.ndarray:
    """keys[k] in among (binary search: cheaper than np.isin's sort of both arrays)."""
    if len(among) == 0:
        return np.zeros(len(keys), dtype=bool)
    among = np.sort(among)
    at = np.minimum(np.searchsorted(among, keys), len(among) - 1)
    return among[at] == keys
