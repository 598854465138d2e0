"""Pair scoring, linking and grouping without a database: exact groups in bounded memory, scores
that depend on the two texts only."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from platform_assets.nlp.eligibility import Goal
from platform_assets.nlp.grouping import connected_groups
from platform_assets.nlp.linking import SimilarPairs, linked_pairs
from platform_assets.nlp.similarity import similar_pairs, text_vectors
from platform_assets.nlp.synthetic import goal_text, near_duplicate
from tests.nlp.search_budget import bounded

BOUNDED = bounded(40)


def brute_force_components(dense: np.ndarray, threshold: float, accept=None) -> tuple[set[frozenset[int]], float]:
    """Reference: the full n x n matrix, a union-find over every accepted pair >= threshold, and
    Kruskal's maximum spanning forest weight (independent of scipy's csgraph)."""
    n = len(dense)
    sims = dense @ dense.T
    edges = sorted(
        (
            (float(min(sims[i, j], 1.0)), i, j)
            for i in range(n)
            for j in range(i + 1, n)
            if sims[i, j] >= threshold - 1e-6 and (accept is None or accept(i, j))
        ),
        reverse=True,
    )
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    weight = 0.0
    for score, i, j in edges:
        if root(i) != root(j):
            parent[root(i)] = root(j)
            weight += score
    groups: dict[int, set[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), set()).add(i)
    return {frozenset(g) for g in groups.values() if len(g) > 1}, weight


def components(n: int, pairs: SimilarPairs) -> set[frozenset[int]]:
    goals = [Goal(i, str(i), grant_id=1, recipient_id=1) for i in range(n)]
    return {frozenset(g.goal_ids) for g in connected_groups(goals, pairs)}


@st.composite
def clustered_vectors(draw):
    """Unit vectors with planted near-copies (chains and clusters), some far apart in row order."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_base = draw(st.integers(2, 40))
    n_copies = draw(st.integers(0, 30))
    dims = draw(st.sampled_from([4, 8, 16]))
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_base, dims))
    sources = rng.integers(0, n_base, size=n_copies)
    copies = base[sources] + rng.normal(scale=draw(st.sampled_from([0.02, 0.1, 0.3])), size=(n_copies, dims))
    vectors = np.vstack([base, copies])
    vectors = vectors[rng.permutation(len(vectors))]
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@BOUNDED
@given(vectors=clustered_vectors(), threshold=st.sampled_from([0.5, 0.8, 0.95]), budget=st.integers(1, 400))
def test_blockwise_links_give_exactly_the_brute_force_groups(vectors, threshold, budget):
    """Invariant: whatever the block size (cell budget), the kept links (a) connect exactly the
    groups of the full threshold graph, (b) form a forest (members - 1 links per group), (c) are
    all >= threshold, and (d) are a MAXIMUM spanning forest (same total weight as Kruskal)."""
    expected, weight = brute_force_components(vectors.astype(np.float64), threshold)
    links = linked_pairs(vectors, threshold, cell_budget=budget)
    assert components(len(vectors), links) == expected
    assert len(links) == sum(len(g) - 1 for g in expected)
    assert np.all(links.score >= threshold - 1e-6) and np.all(links.left < links.right)
    assert links.score.sum() == pytest.approx(weight, abs=1e-4)


@BOUNDED
@given(vectors=clustered_vectors(), budget=st.integers(1, 200), seed=st.integers(0, 1000))
def test_sparse_vectors_and_a_veto_give_the_brute_force_groups(vectors, budget, seed):
    """Invariant: same as above for sparse rows (the tfidf path) and with an edge filter (the
    guard): groups are the components of the graph of accepted pairs >= threshold."""
    vetoed = np.random.default_rng(seed).random((len(vectors), len(vectors))) < 0.3

    def accept(left, right):
        return ~vetoed[left, right]

    expected, _ = brute_force_components(vectors.astype(np.float64), 0.8, lambda i, j: not vetoed[i, j])
    links = linked_pairs(sp.csr_matrix(vectors), 0.8, accept, cell_budget=budget)
    assert components(len(vectors), links) == expected


def test_identical_texts_are_scored_once_and_chained():
    texts = ["Improve family engagement.", "Other goal about buses.", "Improve family engagement."] * 2
    pairs = similar_pairs(texts, "tfidf", 0.9)
    assert components(len(texts), pairs) == {frozenset({0, 2, 3, 5}), frozenset({1, 4})}
    assert np.all(pairs.score == 1.0)


goal_texts = st.builds(lambda seed: goal_text(__import__("random").Random(seed)), st.integers(0, 10**6))


@BOUNDED
@given(a=goal_texts, edit_seed=st.integers(0, 10**6), others=st.lists(goal_texts, max_size=12))
def test_a_pairs_tfidf_score_does_not_depend_on_the_other_goals(a, edit_seed, others):
    """Invariant: the score of (a, b) is the same alone and among any other goals (no
    per-recipient fitting), and a linked pair stays in one group whatever is added."""
    b = near_duplicate(a, __import__("random").Random(edit_seed))
    alone = text_vectors([a, b], "tfidf")
    among = text_vectors([a, b, *others], "tfidf")
    assert (alone[0] @ alone[1].T).toarray()[0, 0] == pytest.approx((among[0] @ among[1].T).toarray()[0, 0], abs=1e-6)
    if len(similar_pairs([a, b], "tfidf", 0.65)):
        grouped = components(2 + len(others), similar_pairs([a, b, *others], "tfidf", 0.65))
        assert any({0, 1} <= g for g in grouped)


def test_bad_threshold_and_method_are_named():
    with pytest.raises(ValueError, match="threshold"):
        similar_pairs(["a", "b"], "tfidf", 1.5)
    with pytest.raises(ValueError, match="unknown similarity method 'spacy'"):
        similar_pairs(["a", "b"], "spacy", 0.9)


def test_groups_are_transitive_and_keep_each_goals_own_grant():
    goals = [
        Goal(10, "a", grant_id=100, recipient_id=1),
        Goal(11, "b", grant_id=200, recipient_id=1),
        Goal(12, "c", grant_id=300, recipient_id=1),
        Goal(13, "d", grant_id=100, recipient_id=1),
    ]
    pairs = SimilarPairs(np.array([0, 1]), np.array([1, 2]), np.array([0.95, 0.91]))  # a~b, b~c, d alone
    groups = connected_groups(goals, pairs)
    assert len(groups) == 1
    assert {m.goal_id: m.grant_id for m in groups[0].members} == {10: 100, 11: 200, 12: 300}
    assert groups[0].pairs == ((10, 11, 0.95), (11, 12, 0.91))


@BOUNDED
@given(
    rows=st.integers(1, 30),
    cols=st.integers(1, 70),
    density=st.sampled_from([0.0, 0.01, 0.2, 1.0]),
    seed=st.integers(0, 99),
)
def test_sparse_nonzero_finds_exactly_what_numpy_finds(rows, cols, density, seed):
    """Invariant: the word-skipping scan returns the same (row, col) pairs, in the same order, as
    np.nonzero, for any shape (including sizes that are not a multiple of 8) and density."""
    from platform_assets.nlp.linking import sparse_nonzero

    mask = np.random.default_rng(seed).random((rows, cols)) < density
    expected = np.nonzero(mask)
    found = sparse_nonzero(mask)
    np.testing.assert_array_equal(found[0], expected[0])
    np.testing.assert_array_equal(found[1], expected[1])
