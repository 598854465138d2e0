"""Duplicate-goal detection as assets: observed goals per recipient -> similarity groups.

`nlp/goals` is an observable source: its data version per recipient partition is the hash of
that recipient's eligible goals. `nlp/goal_similarity_groups` is partitioned by recipient
and runs many recipients in ONE run (single-run backfill policy; the schedule requests the
whole recipient range). Inside the run each recipient is recomputed only when its
provenance changed: code version (automatic, `versioned_asset`), method/threshold (run
config) or the goals data version. Unchanged recipients get no new materialization; each
recomputed recipient gets its own materialization carrying its own provenance tags.

Why per recipient inside the run rather than Dagster's whole-step check alone: in a run over
a partition range Dagster records one input data version for the whole range and ignores
observed (not materialized) partition versions, so the step-level check cannot tell which
recipients changed. The per-recipient tags use Dagster's own provenance tag names, so the UI
and the platform's skip check read them as usual.
"""

from __future__ import annotations

import json
import typing
from typing import Literal

import dagster as dg
from pydantic import Field

from platform_assets.nlp import OWNERS
from platform_assets.nlp.checks import check_specs, largest_groups_preview, stored_group_checks
from platform_assets.nlp.eligibility import Goal, goals_data_version, load_eligible_goals, recipient_ids
from platform_assets.nlp.embedding_store import read_shard, shard_key, write_shard
from platform_assets.nlp.embeddings import EmbeddingStats, model_version, text_key
from platform_assets.nlp.grouping import SimilarityGroup, connected_groups
from platform_assets.nlp.partitions import RECIPIENT_PARTITIONS, recipient_id_of, recipient_key, recipient_partitions
from platform_assets.nlp.schema import create_output_tables
from platform_assets.nlp.similarity import DEFAULT_THRESHOLDS, METHOD_PACKAGES, VectorCache, similar_pairs
from platform_assets.nlp.store import groups_parquet, replace_recipient_groups
from platform_assets.provenance import (
    content_version,
    partition_decisions,
    partition_materialization,
    versioned_asset,
)
from platform_assets.provenance.dagster_internals import observable_source_with
from resources.nlp.goals_db import GoalsDatabase
from resources.settings import settings
from resources.shared.blob import BlobStorage
from resources.shared.images import k8s_op_tags

GOALS_KEY = dg.AssetKey(["nlp", "goals"])
GROUPS_KEY = dg.AssetKey(["nlp", "goal_similarity_groups"])
BLOB_PREFIX = "nlp/goal_similarity_groups"


SimilarityMethod = Literal["minilm", "tfidf"]


def default_method() -> SimilarityMethod:
    """`NLP_SIMILARITY_METHOD` (minilm unless set; tfidf is the fast lexical option)."""
    configured = settings().nlp_similarity_method
    for method in typing.get_args(SimilarityMethod):
        if configured == method:
            return method
    raise ValueError(f"NLP_SIMILARITY_METHOD must be one of {typing.get_args(SimilarityMethod)}, got {configured!r}")


class SimilarityConfig(dg.Config):
    """How goals are compared; part of each recipient's provenance (changing it recomputes)."""

    method: SimilarityMethod = Field(default_factory=default_method)
    threshold: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="cosine similarity cut-off; default: calibrated on human labels per method (docs/nlp.md)",
    )
    guard: bool = Field(
        default=True, description="veto pairs that differ in a number, negation, date, opposite, subject or name"
    )

    @property
    def effective_threshold(self) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.method]


def recipient_goal_versions(goals_db: GoalsDatabase) -> dict[str, str]:
    """Data version of every recipient in the database (recipients without goals included)."""
    with goals_db.connect() as conn:
        ids = recipient_ids(conn)
        by_recipient = load_eligible_goals(conn)
    return {recipient_key(r): goals_data_version(by_recipient.get(r, [])) for r in ids}


@dg.observable_source_asset(
    key=GOALS_KEY,
    partitions_def=recipient_partitions,
    group_name="nlp",
    op_tags=k8s_op_tags("nlp", key=GOALS_KEY),  # on k8s: the nlp image, label and database secret
    description="Eligible goals per recipient in the goals database; data version = hash of the goals.",
)
def observe_goals(context, goals_db: GoalsDatabase) -> dg.DataVersionsByPartition:
    known = set(context.instance.get_dynamic_partitions(RECIPIENT_PARTITIONS))
    versions = recipient_goal_versions(goals_db)
    return dg.DataVersionsByPartition({k: dg.DataVersion(v) for k, v in versions.items() if k in known})


# owners and kinds like every other asset (the source-asset decorator takes neither)
goals = observable_source_with(observe_goals, owners=OWNERS, kinds={"postgres", "sqlalchemy"})


def compute_recipient_groups(
    goals_of_recipient: list[Goal],
    config: SimilarityConfig,
    cache: VectorCache | None = None,
    stats: EmbeddingStats | None = None,
) -> list[SimilarityGroup]:
    """The duplicate groups of one recipient; minilm vectors come from / go to `cache`."""
    pairs = similar_pairs(
        [g.name for g in goals_of_recipient],
        config.method,
        config.effective_threshold,
        guard=config.guard,
        cache=cache,
        stats=stats,
    )
    return connected_groups(goals_of_recipient, pairs)


def groups_parquet_missing(resources, materialization: dg.AssetMaterialization) -> str | None:
    """A recipient's recorded groups are still in blob storage."""
    key = f"{BLOB_PREFIX}/recipient={materialization.partition}/groups.parquet"
    return None if resources.blob.exists(key) else f"{key} is gone"


def groups_with_cached_embeddings(
    blob: BlobStorage, recipient: int, goals_of_recipient: list[Goal], config: SimilarityConfig
) -> tuple[list[SimilarityGroup], EmbeddingStats]:
    """`compute_recipient_groups` with the recipient's embedding shard: read it, embed only
    texts it lacks, and rewrite it only if the recipient's set of texts changed."""
    stats = EmbeddingStats()
    if config.method != "minilm":
        return compute_recipient_groups(goals_of_recipient, config), stats
    key = shard_key(model_version(), recipient)
    cache = read_shard(blob, key)
    cached = set(cache)
    groups = compute_recipient_groups(goals_of_recipient, config, cache, stats)
    current = {text_key(g.name) for g in goals_of_recipient}
    if current != cached:
        write_shard(blob, key, cache, current)
    return groups, stats


@versioned_asset(
    key=GROUPS_KEY,
    output_missing=groups_parquet_missing,
    image="nlp",
    k8s_resources={"cpu": "2", "memory": "4Gi"},
    packages=sorted({p for ps in METHOD_PACKAGES.values() for p in ps}),
    partitions_def=recipient_partitions,
    deps=[GOALS_KEY],
    backfill_policy=dg.BackfillPolicy.single_run(),
    decides_per_partition=True,
    automation_condition=None,  # the daily schedule requests one run over all recipients
    group_name="nlp",
    kinds={"python", "pytorch", "scikitlearn"},
    check_specs=check_specs(GROUPS_KEY),
    description="Groups of near-duplicate goals per recipient, written to goal_similarity_groups(_goals) and parquet.",
)
def goal_similarity_groups(
    context: dg.AssetExecutionContext, config: SimilarityConfig, goals_db: GoalsDatabase, blob: BlobStorage
):
    requested, malformed = {}, []
    for key in context.partition_keys:
        try:
            requested[key] = recipient_id_of(key)
        except ValueError:
            malformed.append(key)
    with goals_db.begin() as conn:
        create_output_tables(conn)
    with goals_db.connect() as conn:
        known = set(recipient_ids(conn))
        goals_by_recipient = load_eligible_goals(conn, [r for r in requested.values() if r in known])
    versions = {
        key: {GOALS_KEY: goals_data_version(goals_by_recipient.get(recipient, []))}
        for key, recipient in requested.items()
        if recipient in known
    }
    computed, skipped = [], []
    for decision in partition_decisions(context, input_versions=versions):
        recipient = requested.get(decision.partition_key)
        if recipient not in known:  # malformed or unknown: reported after the others are done
            continue
        if not decision.compute:
            skipped.append(decision.partition_key)
            continue
        recipient_goals = goals_by_recipient.get(recipient, [])
        groups, embedding_stats = groups_with_cached_embeddings(blob, recipient, recipient_goals, config)
        parquet = groups_parquet(recipient, groups, config.method, config.effective_threshold)
        with goals_db.begin() as conn:  # one transaction per recipient: old groups or new, never a mix
            replace_recipient_groups(
                conn,
                recipient,
                groups,
                method=config.method,
                threshold=config.effective_threshold,
                data_version=decision.input_versions[GOALS_KEY],
            )
        blob_key = f"{BLOB_PREFIX}/recipient={recipient}/groups.parquet"
        blob.write_bytes(blob_key, parquet)
        computed.append(decision.partition_key)
        yield partition_materialization(
            context,
            decision,
            data_version=content_version(parquet),
            metadata={
                "eligible_goals": len(recipient_goals),
                "groups": len(groups),
                "goals_in_groups": sum(len(g.members) for g in groups),
                "largest_group": max((len(g.members) for g in groups), default=0),
                "method": config.method,
                "threshold": config.effective_threshold,
                "guard": config.guard,
                "texts_embedded": embedding_stats.embedded,
                "texts_from_embedding_cache": embedding_stats.reused,
                "parquet": blob.url_of(blob_key),
                "largest_groups": largest_groups_preview(groups),
            },
        )
    context.log.info(f"recipients recomputed: {len(computed)}, unchanged (skipped): {len(skipped)}")
    with goals_db.connect() as conn:
        yield from stored_group_checks(conn, [r for r in requested.values() if r in known])
    unknown = sorted(k for k, r in requested.items() if r not in known)
    problems = []
    if unknown:
        problems.append(
            f'unknown recipient(s) {", ".join(unknown)}: not in "Recipients" of the goals database '
            f"({goals_db.safe_location})"
        )
    if malformed:
        problems.append(f"partition key(s) {', '.join(map(repr, malformed))} are not recipient ids (expected integers)")
    if problems:
        # Bad input, not an outage: retrying (the job's database RetryPolicy) cannot help.
        raise dg.Failure(
            description="; ".join(problems) + f"; the other {len(computed) + len(skipped)} recipient(s) were processed",
            metadata={"unknown_recipients": json.dumps(unknown), "malformed_partition_keys": json.dumps(malformed)},
            allow_retries=False,
        )
