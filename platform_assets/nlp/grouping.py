"""Similarity groups: connected components of the "score >= threshold" graph.

The original matched greedily: once a goal had been matched it was skipped as a candidate,
so which pairs were reported depended on row order, and the second goal of a match was given
the first goal's grant id. Connected components are order-independent and transitive (if
A~B and B~C, all three are one group); the pair scores inside a group are kept so a reviewer
can see how tightly it hangs together (min_score / max_score). Every member keeps its own
grant id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from platform_assets.nlp.eligibility import Goal
from platform_assets.nlp.linking import SimilarPairs
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")


@dataclass(frozen=True)
class GroupMember:
    goal_id: int
    grant_id: int
    name: str


@dataclass(frozen=True)
class SimilarityGroup:
    members: tuple[GroupMember, ...]
    pairs: tuple[tuple[int, int, float], ...]  # (goal_id_a, goal_id_b, score), a < b

    @property
    def goal_ids(self) -> list[int]:
        return [m.goal_id for m in self.members]

    @property
    def min_score(self) -> float:
        return min(score for _, _, score in self.pairs)

    @property
    def max_score(self) -> float:
        return max(score for _, _, score in self.pairs)


def connected_groups(goals: Sequence[Goal], pairs: SimilarPairs) -> list[SimilarityGroup]:
    """Groups of >= 2 goals, ordered by their smallest goal id (deterministic)."""
    if len(pairs) == 0:
        return []
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n = len(goals)
    graph = sp.coo_matrix((np.ones(len(pairs)), (pairs.left, pairs.right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)

    edges_by_label: dict[int, list[tuple[int, int, float]]] = {}
    for left, right, score in zip(pairs.left.tolist(), pairs.right.tolist(), pairs.score.tolist(), strict=True):
        a, b = sorted((goals[left].id, goals[right].id))
        edges_by_label.setdefault(int(labels[left]), []).append((a, b, round(float(score), 4)))

    groups = []
    for label, edges in edges_by_label.items():
        member_idx = np.flatnonzero(labels == label)
        members = tuple(
            sorted(
                (GroupMember(goals[i].id, goals[i].grant_id, goals[i].name) for i in member_idx.tolist()),
                key=lambda m: m.goal_id,
            )
        )
        groups.append(SimilarityGroup(members, tuple(sorted(edges))))
    return sorted(groups, key=lambda g: g.members[0].goal_id)
