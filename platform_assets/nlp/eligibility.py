"""Which goals take part in duplicate detection (the original service's rule, made explicit).

A goal is eligible when
- its name is non-empty after trimming (whitespace-only names are ignored), and
- it was not created via an activity report, or at least one of its activity reports is
  approved (goals from unapproved reports must not be merged yet).

Two deliberate differences from the original SQL, both fixing silent data loss:
- ``createdVia IS NULL`` counts as "not via an activity report"; the original's
  ``"createdVia" != 'activityReport'`` dropped such goals through SQL NULL logic.
- A goal on several reports appears once (EXISTS instead of LEFT JOIN, which duplicated rows).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from platform_assets.nlp.schema import tables
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

ACTIVITY_REPORT = "activityReport"


@dataclass(frozen=True)
class Goal:
    """One eligible goal; ``grant_id`` is the goal's own grant (never a neighbour's)."""

    id: int
    name: str
    grant_id: int
    recipient_id: int


def has_meaningful_name(name: str | None) -> bool:
    """SQL TRIM only strips spaces; tabs/newlines-only names are also empty to a reader."""
    return bool(name and name.strip())


def eligible_goals_query(recipient_ids: Iterable[int] | None = None) -> sa.Select:
    t = tables()
    goals, grants, recipients = t.goals, t.grants, t.recipients
    activity_reports, activity_report_goals = t.activity_reports, t.activity_report_goals
    approved_report = (
        sa.select(sa.literal(1))
        .select_from(
            activity_report_goals.join(
                activity_reports, activity_reports.c.id == activity_report_goals.c.activityReportId
            )
        )
        .where(activity_report_goals.c.goalId == goals.c.id, activity_reports.c.approvedAt.is_not(None))
        .exists()
    )
    created_via = sa.cast(goals.c.createdVia, sa.Text)
    query = (
        sa.select(goals.c.id, goals.c.name, goals.c.grantId, grants.c.recipientId)
        .select_from(
            goals.join(grants, grants.c.id == goals.c.grantId).join(recipients, recipients.c.id == grants.c.recipientId)
        )
        .where(
            sa.func.nullif(sa.func.trim(goals.c.name), "").is_not(None),
            sa.or_(created_via.is_(None), created_via != ACTIVITY_REPORT, approved_report),
        )
        .order_by(grants.c.recipientId, goals.c.id)
    )
    if recipient_ids is not None:
        query = query.where(grants.c.recipientId.in_(list(recipient_ids)))
    return query


def load_eligible_goals(conn: sa.Connection, recipient_ids: Iterable[int] | None = None) -> dict[int, list[Goal]]:
    """Eligible goals grouped by recipient id (recipients without eligible goals are absent)."""
    by_recipient: dict[int, list[Goal]] = {}
    for row in conn.execute(eligible_goals_query(recipient_ids)):
        if has_meaningful_name(row.name):
            by_recipient.setdefault(row.recipientId, []).append(
                Goal(row.id, row.name.strip(), row.grantId, row.recipientId)
            )
    return by_recipient


def recipient_ids(conn: sa.Connection) -> list[int]:
    recipients = tables().recipients
    return list(conn.execute(sa.select(recipients.c.id).order_by(recipients.c.id)).scalars())


def goals_data_version(goals_of_recipient: Iterable[Goal]) -> str:
    """Content hash of a recipient's eligible goals: changes iff an input to its groups changes."""
    rows = sorted((g.id, g.grant_id, g.name) for g in goals_of_recipient)
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()[:24]
