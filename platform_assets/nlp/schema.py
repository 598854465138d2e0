"""Tables of the goals database (SQLAlchemy Core).

The source tables mirror the TTA Hub schema the original service queried: quoted camelCase
names ("Goals", "grantId", ...), only the columns the duplicate detection needs. They exist in
production; locally `demo.seed_demo` creates them in SQLite.

The two output tables are ours: one row per similarity group of a recipient, one row per member
goal carrying that goal's OWN grant id (the original copied goal1's grant onto goal2).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")


@functools.cache
def tables() -> SimpleNamespace:
    """The tables, built on first use (SQLAlchemy stays out of the code-location load)."""
    metadata = sa.MetaData()

    recipients = sa.Table(
        "Recipients",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
    )

    grants = sa.Table(
        "Grants",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.Text),
        sa.Column("recipientId", sa.Integer, sa.ForeignKey("Recipients.id"), nullable=False, index=True),
    )

    goals = sa.Table(
        "Goals",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("status", sa.Text),
        sa.Column("grantId", sa.Integer, sa.ForeignKey("Grants.id"), nullable=False, index=True),
        # An enum in TTA Hub ('rtr', 'activityReport', 'imported', ...); compared as text.
        sa.Column("createdVia", sa.Text),
        sa.Column("createdAt", sa.DateTime),
        sa.Column("updatedAt", sa.DateTime),
    )

    activity_reports = sa.Table(
        "ActivityReports",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("approvedAt", sa.DateTime),
    )

    activity_report_goals = sa.Table(
        "ActivityReportGoals",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("activityReportId", sa.Integer, sa.ForeignKey("ActivityReports.id"), nullable=False),
        sa.Column("goalId", sa.Integer, sa.ForeignKey("Goals.id"), nullable=False, index=True),
    )

    SOURCE_TABLES = (recipients, grants, goals, activity_reports, activity_report_goals)

    goal_similarity_groups = sa.Table(
        "goal_similarity_groups",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recipient_id", sa.Integer, nullable=False, index=True),
        sa.Column("group_index", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("min_score", sa.Float, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        # [[goal_id_a, goal_id_b, score], ...]: the edges above the threshold inside the group.
        sa.Column("pairs", sa.JSON, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("data_version", sa.Text, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("recipient_id", "group_index", name="uq_goal_similarity_groups_recipient_index"),
    )

    goal_similarity_group_goals = sa.Table(
        "goal_similarity_group_goals",
        metadata,
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey("goal_similarity_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("goal_id", sa.Integer, primary_key=True),
        sa.Column("grant_id", sa.Integer, nullable=False),
        sa.Column("recipient_id", sa.Integer, nullable=False, index=True),
        sa.Column("name", sa.Text, nullable=False),
    )

    OUTPUT_TABLES = (goal_similarity_groups, goal_similarity_group_goals)
    return SimpleNamespace(
        metadata=metadata,
        recipients=recipients,
        grants=grants,
        goals=goals,
        activity_reports=activity_reports,
        activity_report_goals=activity_report_goals,
        goal_similarity_groups=goal_similarity_groups,
        goal_similarity_group_goals=goal_similarity_group_goals,
        SOURCE_TABLES=SOURCE_TABLES,
        OUTPUT_TABLES=OUTPUT_TABLES,
    )


def __getattr__(name: str) -> Any:
    """`from platform_assets.nlp.schema import goals` still works (and builds the tables)."""
    if name.startswith("__"):  # import machinery probing (__path__, ...): not a table
        raise AttributeError(name)
    try:
        return getattr(tables(), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def create_output_tables(engine: sa.Engine) -> None:
    """Create our output tables if missing; never touches the source tables."""
    t = tables()
    t.metadata.create_all(engine, tables=list(t.OUTPUT_TABLES), checkfirst=True)


def create_source_tables(engine: sa.Engine) -> None:
    """Create the TTA Hub source tables (demo and tests only: production already has them)."""
    t = tables()
    t.metadata.create_all(engine, tables=list(t.SOURCE_TABLES), checkfirst=True)
