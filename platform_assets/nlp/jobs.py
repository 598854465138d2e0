"""`nlp_similarity_job`: one run over one recipient or a range of recipients."""

from __future__ import annotations

import dagster as dg

from platform_assets.nlp.assets import GOALS_KEY, GROUPS_KEY

# Longer outages than the resource's own connection backoff: retry the step a few times.
DATABASE_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

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
            dg.AssetObservation(asset_key=GOALS_KEY, partition=key, tags={"dagster/data_version": version})
        )
