"""`nlp_daily_schedule`: every day, sync recipients with the goals database and run
`nlp_similarity_job` once over all of them (unchanged recipients are skipped inside)."""

from __future__ import annotations

import dagster as dg

from platform_assets.nlp.assets import recipient_goal_versions
from platform_assets.nlp.jobs import nlp_similarity_job, record_goal_observations
from platform_assets.nlp.partitions import all_recipients_range, sync_recipient_partitions
from resources.nlp.goals_db import GoalsDatabase


@dg.schedule(
    cron_schedule="0 5 * * *",
    job=nlp_similarity_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    execution_timezone="UTC",
)
def nlp_daily_schedule(context: dg.ScheduleEvaluationContext, goals_db: GoalsDatabase):
    """Sync recipient partitions and observed goal versions, then ONE run over all recipients."""
    versions = recipient_goal_versions(goals_db)
    added, removed = sync_recipient_partitions(context.instance, [int(k) for k in versions])
    record_goal_observations(context.instance, versions)
    key_range = all_recipients_range(context.instance)
    if key_range is None:
        return dg.SkipReason("no recipients in the goals database")
    context.log.info(f"recipients: {len(versions)} (+{len(added)} / -{len(removed)})")
    return dg.RunRequest(
        run_key=f"nlp-daily-{context.scheduled_execution_time:%Y-%m-%d}",
        tags={
            "dagster/asset_partition_range_start": key_range.start,
            "dagster/asset_partition_range_end": key_range.end,
        },
    )
