"""Reading back what `nlp/goal_similarity_groups` stored, for assertions."""

from __future__ import annotations

import sqlalchemy as sa

from platform_assets.nlp.schema import tables


def read_recipient_groups(conn: sa.Connection, recipient_id: int) -> list[dict]:
    """The stored groups of a recipient: [{goal_id: grant_id, ...}, ...] with pairs."""
    goal_similarity_groups, goal_similarity_group_goals = (
        tables().goal_similarity_groups,
        tables().goal_similarity_group_goals,
    )
    groups = (
        conn.execute(
            sa.select(goal_similarity_groups)
            .where(goal_similarity_groups.c.recipient_id == recipient_id)
            .order_by(goal_similarity_groups.c.group_index)
        )
        .mappings()
        .all()
    )
    out = []
    for g in groups:
        members = conn.execute(
            sa.select(goal_similarity_group_goals.c.goal_id, goal_similarity_group_goals.c.grant_id).where(
                goal_similarity_group_goals.c.group_id == g["id"]
            )
        ).all()
        out.append(
            {
                "members": {m.goal_id: m.grant_id for m in members},
                "pairs": g["pairs"],
                "method": g["method"],
                "threshold": g["threshold"],
            }
        )
    return out
