"""The NLP family: duplicate goals per recipient, daily and on demand."""

from __future__ import annotations

import dagster as dg

from platform_assets.nlp.assets import GOALS_KEY, GROUPS_KEY, goal_similarity_groups, goals, recipient_goal_versions
from platform_assets.nlp.partitions import all_recipients_range, recipient_partitions, sync_recipient_partitions
from resources.goals_db import GoalsDatabase, goals_database_from_env

# Longer outages than the resource's own connection backoff: retry the step a few times.
DATABASE_RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)

nlp_similarity_job = dg.define_asset_job(
    "nlp_similarity_job",
    selection=dg.AssetSelection.assets(GROUPS_KEY),
    op_retry_policy=DATABASE_RETRY_POLICY,
    description="On demand: pick one recipient, or a range (one run); unchanged recipients are skipped.",
)


def record_goal_observations(instance: dg.DagsterInstance, versions: dict[str, str]) -> None:
    """Per-recipient data versions of nlp/goals, visible in the UI (staleness, lineage)."""
    for key, version in versions.items():
        instance.report_runless_asset_event(
            dg.AssetObservation(asset_key=GOALS_KEY, partition=key, tags={"dagster/data_version": version}))


@dg.schedule(cron_schedule="0 5 * * *", job=nlp_similarity_job, default_status=dg.DefaultScheduleStatus.RUNNING,
             execution_timezone="UTC")
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
        tags={"dagster/asset_partition_range_start": key_range.start,
              "dagster/asset_partition_range_end": key_range.end},
    )


defs = dg.Definitions(
    assets=[goals, goal_similarity_groups],
    jobs=[nlp_similarity_job],
    schedules=[nlp_daily_schedule],
    resources={"goals_db": goals_database_from_env()},
)
