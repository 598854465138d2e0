"""Pairwise similarity and grouping, without a database: blockwise == brute force, groups are sound."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from platform_assets.nlp.eligibility import Goal
from platform_assets.nlp.grouping import connected_groups
from platform_assets.nlp.similarity import pairs_above, similar_pairs


def brute_force(vectors, threshold):
    dense = vectors.toarray() if sp.issparse(vectors) else vectors
    sims = dense @ dense.T
    return {(i, j) for i in range(len(dense)) for j in range(i + 1, len(dense)) if sims[i, j] >= threshold - 1e-6}


@pytest.mark.parametrize("sparse", [False, True])
def test_blockwise_pairs_match_brute_force(sparse):
    rng = np.random.default_rng(3)
    base = rng.normal(size=(40, 8))
    vectors = np.vstack([base, base[:15] + rng.normal(scale=0.05, size=(15, 8))])  # 15 near copies, far apart
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    if sparse:
        vectors = sp.csr_matrix(vectors)
    expected = brute_force(vectors, 0.95)
    found = pairs_above(vectors, 0.95, cell_budget=120)  # forces blocks of 2 rows
    assert set(zip(found.left.tolist(), found.right.tolist(), strict=True)) == expected
    assert len(expected) >= 15


def test_tfidf_finds_reworded_copy_but_not_a_different_goal():
    texts = [
        "The recipient will improve family engagement through staff training.",
        "the recipient will improve family engagment through staff training",
        "Establish transportation safety procedures to keep children safe.",
    ]
    pairs = similar_pairs(texts, "tfidf", 0.8)
    assert list(zip(pairs.left.tolist(), pairs.right.tolist(), strict=True)) == [(0, 1)]


def test_groups_are_transitive_and_keep_each_goals_own_grant():
    goals = [
        Goal(10, "a", grant_id=100, recipient_id=1),
        Goal(11, "b", grant_id=200, recipient_id=1),
        Goal(12, "c", grant_id=300, recipient_id=1),
        Goal(13, "d", grant_id=100, recipient_id=1),
    ]
    from platform_assets.nlp.similarity import SimilarPairs

    pairs = SimilarPairs(np.array([0, 1]), np.array([1, 2]), np.array([0.95, 0.91]))  # a~b, b~c, d alone
    groups = connected_groups(goals, pairs)
    assert len(groups) == 1
    assert {m.goal_id: m.grant_id for m in groups[0].members} == {10: 100, 11: 200, 12: 300}
    assert groups[0].pairs == ((10, 11, 0.95), (11, 12, 0.91))


def test_bad_threshold_and_method_are_named():
    with pytest.raises(ValueError, match="threshold"):
        similar_pairs(["a", "b"], "tfidf", 1.5)
    with pytest.raises(ValueError, match="unknown similarity method 'spacy'"):
        similar_pairs(["a", "b"], "spacy", 0.9)
