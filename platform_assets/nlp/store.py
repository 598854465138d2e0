"""Writing a recipient's similarity groups: database (one transaction) and parquet.

The database write deletes the recipient's previous groups and inserts the new ones in a
single transaction, so readers see either the old groups or the new ones, never a mix,
and a failure half-way leaves the old groups intact.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from platform_assets.nlp.grouping import SimilarityGroup
from platform_assets.nlp.schema import tables
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")


def replace_recipient_groups(
    conn: sa.Connection,
    recipient_id: int,
    groups: Sequence[SimilarityGroup],
    *,
    method: str,
    threshold: float,
    data_version: str,
) -> None:
    """Replace the groups of one recipient; call inside ONE transaction (`GoalsDatabase.begin()`)."""
    goal_similarity_groups, goal_similarity_group_goals = (
        tables().goal_similarity_groups,
        tables().goal_similarity_group_goals,
    )
    old_group_ids = sa.select(goal_similarity_groups.c.id).where(goal_similarity_groups.c.recipient_id == recipient_id)
    conn.execute(
        sa.delete(goal_similarity_group_goals).where(goal_similarity_group_goals.c.group_id.in_(old_group_ids))
    )
    conn.execute(sa.delete(goal_similarity_groups).where(goal_similarity_groups.c.recipient_id == recipient_id))
    now = dt.datetime.now(dt.UTC)
    for index, group in enumerate(groups):
        group_id = conn.execute(
            sa.insert(goal_similarity_groups).returning(goal_similarity_groups.c.id),
            {
                "recipient_id": recipient_id,
                "group_index": index,
                "size": len(group.members),
                "min_score": group.min_score,
                "max_score": group.max_score,
                "pairs": [list(p) for p in group.pairs],
                "method": method,
                "threshold": threshold,
                "data_version": data_version,
                "computed_at": now,
            },
        ).scalar_one()
        conn.execute(
            sa.insert(goal_similarity_group_goals),
            [
                {
                    "group_id": group_id,
                    "goal_id": m.goal_id,
                    "grant_id": m.grant_id,
                    "recipient_id": recipient_id,
                    "name": m.name,
                }
                for m in group.members
            ],
        )


def groups_parquet(recipient_id: int, groups: Sequence[SimilarityGroup], method: str, threshold: float) -> bytes:
    """One row per (group, member goal), with the group's pair scores as a JSON column."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {
            "recipient_id": recipient_id,
            "group_index": i,
            "goal_id": m.goal_id,
            "grant_id": m.grant_id,
            "name": m.name,
            "group_size": len(g.members),
            "pairs": json.dumps(g.pairs),
            "method": method,
            "threshold": threshold,
        }
        for i, g in enumerate(groups)
        for m in g.members
    ]
    schema = pa.schema(
        [
            ("recipient_id", pa.int64()),
            ("group_index", pa.int32()),
            ("goal_id", pa.int64()),
            ("grant_id", pa.int64()),
            ("name", pa.string()),
            ("group_size", pa.int32()),
            ("pairs", pa.string()),
            ("method", pa.string()),
            ("threshold", pa.float64()),
        ]
    )
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buf)
    return buf.getvalue()
