"""Local demo data: a SQLite goals database with realistic goals and planted duplicates.

Idempotent: seeds only an empty local SQLite database, never a database named by
GOALS_DATABASE_URL that is not SQLite (that would be someone's real data). Besides the
synthetic goals it plants what the eligibility rule must handle: whitespace-only names,
goals from an unapproved activity report (excluded) and from an approved one (included).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from platform_assets.nlp.partitions import sync_recipient_partitions
from platform_assets.nlp.schema import (
    activity_report_goals,
    activity_reports,
    create_output_tables,
    create_source_tables,
    goals,
    grants,
    recipients,
)
from platform_assets.nlp.synthetic import SyntheticCorpus, synthetic_corpus
from resources.settings import PlatformSettings

DEMO_RECIPIENT_SIZES = [620, 140, 60, 25, 8]  # the first one spans two of the original's 500-goal batches


def insert_corpus(conn: sa.Connection, corpus: SyntheticCorpus, created_via: str = "rtr") -> None:
    """Insert recipients, grants and goals of a synthetic corpus (source tables must exist)."""
    now = dt.datetime(2024, 1, 1)
    conn.execute(sa.insert(recipients), [{"id": r, "name": n} for r, n in corpus.recipients.items()])
    conn.execute(
        sa.insert(grants), [{"id": g, "number": f"90CH{g:06d}", "recipientId": r} for g, r in corpus.grants.items()]
    )
    conn.execute(
        sa.insert(goals),
        [
            {
                "id": g.id,
                "name": g.name,
                "grantId": g.grant_id,
                "createdVia": created_via,
                "status": "In Progress",
                "createdAt": now,
                "updatedAt": now,
            }
            for g in corpus.goals
        ],
    )


def insert_eligibility_cases(
    conn: sa.Connection, recipient_id: int, grant_id: int, first_goal_id: int
) -> dict[str, int]:
    """Goals that must be ignored or kept by the eligibility rule; returns their ids by case."""
    text = "Improve attendance tracking through monthly family outreach to support school readiness."
    ids = {
        "blank": first_goal_id,
        "whitespace": first_goal_id + 1,
        "unapproved_report": first_goal_id + 2,
        "approved_report": first_goal_id + 3,
        "null_created_via": first_goal_id + 4,
    }
    conn.execute(
        sa.insert(goals),
        [
            {"id": ids["blank"], "name": "", "grantId": grant_id, "createdVia": "rtr"},
            {"id": ids["whitespace"], "name": "  \t\n ", "grantId": grant_id, "createdVia": "rtr"},
            {"id": ids["unapproved_report"], "name": text, "grantId": grant_id, "createdVia": "activityReport"},
            {"id": ids["approved_report"], "name": text.lower(), "grantId": grant_id, "createdVia": "activityReport"},
            {"id": ids["null_created_via"], "name": text.upper(), "grantId": grant_id, "createdVia": None},
        ],
    )
    report_ids = conn.execute(sa.select(sa.func.coalesce(sa.func.max(activity_reports.c.id), 0))).scalar_one()
    conn.execute(
        sa.insert(activity_reports),
        [{"id": report_ids + 1, "approvedAt": None}, {"id": report_ids + 2, "approvedAt": dt.datetime(2024, 2, 1)}],
    )
    conn.execute(
        sa.insert(activity_report_goals),
        [
            {"activityReportId": report_ids + 1, "goalId": ids["unapproved_report"]},
            {"activityReportId": report_ids + 2, "goalId": ids["approved_report"]},
            {"activityReportId": report_ids + 1, "goalId": ids["approved_report"]},  # also on a draft: still eligible
        ],
    )
    return ids


def seed_goals_database(engine: sa.Engine) -> bool:
    """Create and fill the demo goals database if it is empty; returns True if it seeded."""
    create_source_tables(engine)
    create_output_tables(engine)
    with engine.begin() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(recipients)).scalar_one():
            return False
        corpus = synthetic_corpus(
            sum(DEMO_RECIPIENT_SIZES),
            len(DEMO_RECIPIENT_SIZES),
            duplicate_fraction=0.05,
            seed=2024,
            sizes=DEMO_RECIPIENT_SIZES,
        )
        insert_corpus(conn, corpus)
        first_recipient = min(corpus.recipients)
        grant = min(g for g, r in corpus.grants.items() if r == first_recipient)
        insert_eligibility_cases(conn, first_recipient, grant, max(g.id for g in corpus.goals) + 1)
    return True


def seed_demo(settings: PlatformSettings, instance: dg.DagsterInstance) -> None:
    url = sa.make_url(settings.goals_database_url)
    if url.get_backend_name() != "sqlite":
        return
    engine = sa.create_engine(url)
    try:
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        seed_goals_database(engine)
        with engine.connect() as conn:
            ids = conn.execute(sa.select(recipients.c.id)).scalars().all()
        sync_recipient_partitions(instance, ids)
    finally:
        engine.dispose()
