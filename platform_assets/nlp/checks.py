"""Checks on the STORED similarity groups of the recipients of a run, and a reviewer's preview.

They read back what `goal_similarity_groups` wrote (not the in-memory result), joined with the
hub's own tables, and run in every run, also when every recipient was unchanged and skipped,
so a skip never turns a passing check into "not run". Emitted by the asset itself
(`check_specs`): the asset reports per-recipient materializations, not an output, so a separate
check step would never be started.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from platform_assets.nlp.grouping import SimilarityGroup
from platform_assets.nlp.schema import tables
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

ONE_RECIPIENT = "groups_within_one_recipient"
NO_GOAL_TWICE = "no_goal_in_two_groups"
SCORES_IN_RANGE = "scores_within_threshold_and_one"
SIZE_REPORT = "group_size_distribution"
CHECK_DESCRIPTIONS = {
    ONE_RECIPIENT: "every member goal belongs (through its own grant) to the group's recipient",
    NO_GOAL_TWICE: "no goal is a member of two groups",
    SCORES_IN_RANGE: "every stored pair score lies in [threshold, 1]",
    SIZE_REPORT: "how many groups of each size (large groups are worth a look: chained matches)",
}
SIZE_BUCKETS = ((2, 2), (3, 5), (6, 10), (11, 50), (51, None))
LARGE_GROUP = 51
SCORE_TOLERANCE = 1e-4  # scores are stored rounded to 4 decimals
EXAMPLES = 10


def check_specs(asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name, asset=asset_key, description=d) for name, d in CHECK_DESCRIPTIONS.items()]


def _stored_groups(conn: sa.Connection, recipients: Sequence[int]):
    t = tables()
    return conn.execute(
        sa.select(
            t.goal_similarity_groups.c.id,
            t.goal_similarity_groups.c.recipient_id,
            t.goal_similarity_groups.c.size,
            t.goal_similarity_groups.c.threshold,
            t.goal_similarity_groups.c.pairs,
        ).where(t.goal_similarity_groups.c.recipient_id.in_(list(recipients)))
    ).all()


def _members_elsewhere(conn: sa.Connection, recipients: Sequence[int]) -> list[dict]:
    """Members whose goal is missing, sits on another grant, or whose grant is another recipient's."""
    t = tables()
    groups, members, goals, grants = t.goal_similarity_groups, t.goal_similarity_group_goals, t.goals, t.grants
    rows = conn.execute(
        sa.select(
            groups.c.recipient_id,
            members.c.goal_id,
            members.c.grant_id,
            goals.c.grantId.label("goal_grant"),
            grants.c.recipientId.label("grant_recipient"),
        )
        .select_from(
            members.join(groups, groups.c.id == members.c.group_id)
            .outerjoin(goals, goals.c.id == members.c.goal_id)
            .outerjoin(grants, grants.c.id == goals.c.grantId)
        )
        .where(groups.c.recipient_id.in_(list(recipients)))
        .where(
            sa.or_(
                goals.c.id.is_(None),
                goals.c.grantId != members.c.grant_id,
                grants.c.recipientId != groups.c.recipient_id,
                members.c.recipient_id != groups.c.recipient_id,
            )
        )
        .limit(EXAMPLES)
    ).all()
    return [dict(r._mapping) for r in rows]


def _goals_in_two_groups(conn: sa.Connection, recipients: Sequence[int]) -> list[int]:
    t = tables()
    members, groups = t.goal_similarity_group_goals, t.goal_similarity_groups
    return list(
        conn.execute(
            sa.select(members.c.goal_id)
            .select_from(members.join(groups, groups.c.id == members.c.group_id))
            .where(groups.c.recipient_id.in_(list(recipients)))
            .group_by(members.c.goal_id)
            .having(sa.func.count() > 1)
            .limit(EXAMPLES)
        ).scalars()
    )


def size_distribution(sizes: Sequence[int]) -> dict[str, int]:
    counts = Counter(sizes)
    return {
        (f"{lo}" if lo == hi else f"{lo}+" if hi is None else f"{lo}-{hi}"): sum(
            c for s, c in counts.items() if s >= lo and (hi is None or s <= hi)
        )
        for lo, hi in SIZE_BUCKETS
    }


def stored_group_checks(conn: sa.Connection, recipients: Sequence[int]) -> list[dg.AssetCheckResult]:
    """The four checks over the stored groups of `recipients`."""
    stored = _stored_groups(conn, recipients)
    elsewhere = _members_elsewhere(conn, recipients)
    twice = _goals_in_two_groups(conn, recipients)
    out_of_range = [
        {"group_id": g.id, "pair": p}
        for g in stored
        for p in g.pairs
        if not (g.threshold - SCORE_TOLERANCE <= p[2] <= 1.0 + SCORE_TOLERANCE)
    ][:EXAMPLES]
    sizes = [g.size for g in stored]
    scope = {"recipients": len(recipients), "groups": len(stored)}
    return [
        dg.AssetCheckResult(
            check_name=ONE_RECIPIENT,
            passed=not elsewhere,
            metadata={**scope, "violations (first 10)": dg.MetadataValue.json(elsewhere)},
        ),
        dg.AssetCheckResult(
            check_name=NO_GOAL_TWICE,
            passed=not twice,
            metadata={**scope, "goals in two groups (first 10)": dg.MetadataValue.json(twice)},
        ),
        dg.AssetCheckResult(
            check_name=SCORES_IN_RANGE,
            passed=not out_of_range,
            metadata={
                **scope,
                "pairs": sum(len(g.pairs) for g in stored),
                "out of range (first 10)": dg.MetadataValue.json(out_of_range),
            },
        ),
        dg.AssetCheckResult(
            check_name=SIZE_REPORT,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                **scope,
                "groups by size": dg.MetadataValue.json(size_distribution(sizes)),
                "largest group": max(sizes, default=0),
                f"groups of {LARGE_GROUP}+ goals": sum(s >= LARGE_GROUP for s in sizes),
            },
        ),
    ]


PREVIEW_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("goals", "int", description="members of the group"),
        dg.TableColumn("weakest_link", "float", description="smallest score needed to hold the group together"),
        dg.TableColumn("strongest_link", "float"),
        dg.TableColumn("goal_ids", "string"),
        dg.TableColumn("texts", "string", description="first member texts"),
    ]
)


def largest_groups_preview(groups: Sequence[SimilarityGroup], limit: int = 10, texts: int = 4) -> dg.MetadataValue:
    """The largest groups with their texts, so a reviewer can judge them in the UI."""
    largest = sorted(groups, key=lambda g: (-len(g.members), g.min_score))[:limit]
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "goals": len(g.members),
                    "weakest_link": g.min_score,
                    "strongest_link": g.max_score,
                    "goal_ids": ", ".join(str(m.goal_id) for m in g.members[:20])
                    + (" ..." if len(g.members) > 20 else ""),
                    "texts": " | ".join(m.name[:160] for m in g.members[:texts]),
                }
            )
            for g in largest
        ],
        schema=PREVIEW_SCHEMA,
    )
