"""The NLP assets end to end on SQLite and a real PostgreSQL, through `materialize` on a real instance."""

from __future__ import annotations

import datetime

import dagster as dg
import pytest
import sqlalchemy as sa

from platform_assets.nlp.assets import GOALS_KEY, GROUPS_KEY, goal_similarity_groups, goals
from platform_assets.nlp.checks import CHECK_DESCRIPTIONS, NO_GOAL_TWICE, ONE_RECIPIENT
from platform_assets.nlp.demo import insert_corpus, insert_eligibility_cases
from platform_assets.nlp.eligibility import load_eligible_goals
from platform_assets.nlp.partitions import sync_recipient_partitions
from platform_assets.nlp.schema import goals as goals_table
from platform_assets.nlp.schema import tables
from platform_assets.nlp.similarity import DEFAULT_THRESHOLDS
from platform_assets.nlp.store import replace_recipient_groups
from platform_assets.nlp.synthetic import synthetic_corpus
from resources.nlp.goals_db import GoalsDatabase
from resources.shared.blob import BlobStorage
from tests.nlp.stored_groups import read_recipient_groups

pytestmark = pytest.mark.slow  # whole runs against the goals database

BATCH = 500  # the original service's batch size


def resources(url, tmp_path, **db):
    return {"goals_db": GoalsDatabase(url=url, **db), "blob": BlobStorage(url=f"file://{tmp_path}/blob")}


def run(instance, url, tmp_path, keys, config=None, raise_on_error=True, **db):
    """One run over the partition range keys[0]..keys[-1] (as the schedule requests it)."""
    return dg.materialize(
        [goals, goal_similarity_groups],
        selection=[GROUPS_KEY],
        instance=instance,
        resources=resources(url, tmp_path, **db),
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        run_config={"ops": {"nlp__goal_similarity_groups": {"config": config or {}}}},
        raise_on_error=raise_on_error,
    )


def materialized_partitions(result) -> list[str]:
    return sorted(
        e.event_specific_data.materialization.partition
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    )


def embedding_counts(result) -> dict[str, tuple[int, int]]:
    """(texts embedded, texts from the cache) per materialized recipient."""
    return {
        m.partition: (m.metadata["texts_embedded"].value, m.metadata["texts_from_embedding_cache"].value)
        for m in (
            e.event_specific_data.materialization
            for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"
        )
    }


def error_text(result) -> str:
    error = result.get_step_failure_events()[0].event_specific_data.error
    return error.to_string()


def seed(engine, sizes, seed=11):
    corpus = synthetic_corpus(sum(sizes), len(sizes), duplicate_fraction=0.05, seed=seed, sizes=sizes)
    with engine.begin() as conn:
        insert_corpus(conn, corpus)
    return corpus


def brute_force_groups(goals_of_recipient, method, threshold):
    """Reference: the full n x n similarity matrix of the same vectors, the guard on every pair,
    and a union-find over every accepted pair >= threshold (no blocks, no spanning forest)."""
    import numpy as np

    from platform_assets.nlp.guard import veto
    from platform_assets.nlp.linking import FLOAT_TOLERANCE
    from platform_assets.nlp.similarity import text_vectors

    texts = [g.name for g in goals_of_recipient]
    unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    vectors = text_vectors([str(t) for t in unique], method)
    dense = (vectors.toarray() if hasattr(vectors, "toarray") else vectors)[inverse]
    sims = dense @ dense.T
    parent = list(range(len(texts)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    scores = {}
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if sims[i, j] >= threshold - FLOAT_TOLERANCE and (texts[i] == texts[j] or veto(texts[i], texts[j]) is None):
                a, b = sorted((goals_of_recipient[i].id, goals_of_recipient[j].id))
                scores[(a, b)] = min(float(sims[i, j]), 1.0)
                parent[root(i)] = root(j)
    groups = {}
    for i, goal in enumerate(goals_of_recipient):
        groups.setdefault(root(i), []).append(goal.id)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1), scores


def test_cross_batch_duplicates_found_and_each_goal_keeps_its_own_grant(goals_engine, goals_db_url, instance, tmp_path):
    corpus = seed(goals_engine, [620])
    recipient = next(iter(corpus.recipients))
    order = [g.id for g in corpus.goals]  # row order the original batched over
    crossing = {(a, b) for a, b in corpus.planted_pairs if order.index(a) // BATCH != order.index(b) // BATCH}
    assert crossing, "the corpus must plant duplicates across a 500-goal batch boundary"
    sync_recipient_partitions(instance, [recipient])

    result = run(instance, goals_db_url, tmp_path, [str(recipient)], {"method": "tfidf"})

    with goals_engine.connect() as conn:
        stored = read_recipient_groups(conn, recipient)
        eligible = load_eligible_goals(conn)[recipient]
    threshold = DEFAULT_THRESHOLDS["tfidf"]
    expected_groups, expected_scores = brute_force_groups(eligible, "tfidf", threshold)
    assert sorted(sorted(g["members"]) for g in stored) == expected_groups  # exactly the all-pairs answer
    # stored links: a spanning tree of each group, made of real edges with their real scores
    assert all(len(g["pairs"]) == len(g["members"]) - 1 for g in stored)
    assert all(abs(score - expected_scores[(a, b)]) < 1e-4 for g in stored for a, b, score in g["pairs"])
    grouped_together = {(a, b) for g in stored for a in g["members"] for b in g["members"]}
    found_crossing = {p for p in crossing if p in grouped_together}
    assert found_crossing, "the reference groups planted duplicates across a batch boundary; so must we"
    own_grant = {g.id: g.grant_id for g in corpus.goals}
    members = {goal: grant for g in stored for goal, grant in g["members"].items()}
    assert members and all(own_grant[goal] == grant for goal, grant in members.items())
    # the original's bug would show here: planted copies sit on a different grant than their original
    assert any(len(set(g["members"].values())) > 1 for g in stored)
    assert all(p[2] >= threshold for g in stored for p in g["pairs"])
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert set(checks) == set(CHECK_DESCRIPTIONS) and all(c.passed for c in checks.values())
    preview = result.asset_materializations_for_node("nlp__goal_similarity_groups")[0].metadata["largest_groups"]
    assert len(preview.value.records) == min(10, len(stored))


def test_eligibility_rule(goals_engine):
    corpus = seed(goals_engine, [6])
    recipient = next(iter(corpus.recipients))
    grant = min(corpus.grants)
    with goals_engine.begin() as conn:
        ids = insert_eligibility_cases(conn, recipient, grant, first_goal_id=1000)
    with goals_engine.connect() as conn:
        eligible = {g.id for g in load_eligible_goals(conn)[recipient]}
    assert ids["blank"] not in eligible and ids["whitespace"] not in eligible
    assert ids["unapproved_report"] not in eligible
    assert ids["approved_report"] in eligible and ids["null_created_via"] in eligible
    assert {g.id for g in corpus.goals} <= eligible


def test_only_changed_recipients_recompute_in_one_run(goals_engine, goals_db_url, instance, tmp_path):
    corpus = seed(goals_engine, [30, 20, 20, 10])
    keys = [str(r) for r in sorted(corpus.recipients)]
    sync_recipient_partitions(instance, corpus.recipients)

    first = run(instance, goals_db_url, tmp_path, keys)
    assert materialized_partitions(first) == sorted(keys)
    assert materialized_partitions(run(instance, goals_db_url, tmp_path, keys)) == []

    changed = corpus.goals_by_recipient()[int(keys[2])][0]
    with goals_engine.begin() as conn:
        conn.execute(sa.update(goals_table).where(goals_table.c.id == changed.id).values(name="Reduce staff turnover."))
    rerun = run(instance, goals_db_url, tmp_path, keys)
    assert materialized_partitions(rerun) == [keys[2]]
    (changed_recipient,) = embedding_counts(rerun).values()
    assert changed_recipient == (1, 19)  # minilm (default): only the changed goal is embedded
    # method/threshold are part of the provenance: a new threshold recomputes everyone, embedding nothing
    new_threshold = run(instance, goals_db_url, tmp_path, keys, {"threshold": 0.7})
    assert materialized_partitions(new_threshold) == sorted(keys)
    assert {embedded for embedded, _ in embedding_counts(new_threshold).values()} == {0}
    # a whitespace-only goal is not eligible, so it changes nothing
    with goals_engine.begin() as conn:
        conn.execute(
            sa.insert(goals_table), {"id": 99999, "name": "   ", "grantId": changed.grant_id, "createdVia": "rtr"}
        )
    assert materialized_partitions(run(instance, goals_db_url, tmp_path, keys, {"threshold": 0.7})) == []


def test_failed_write_leaves_previous_groups_intact(goals_engine, goals_db_url, instance, tmp_path):
    corpus = seed(goals_engine, [60])
    recipient = next(iter(corpus.recipients))
    sync_recipient_partitions(instance, [recipient])
    run(instance, goals_db_url, tmp_path, [str(recipient)])
    db = GoalsDatabase(url=goals_db_url)
    with db.connect() as conn:
        before = read_recipient_groups(conn, recipient)
    assert before

    from platform_assets.nlp.grouping import GroupMember, SimilarityGroup

    good = SimilarityGroup((GroupMember(1, 1, "x"), GroupMember(2, 1, "y")), ((1, 2, 0.99),))
    broken = SimilarityGroup((GroupMember(3, 1, "x"), GroupMember(4, 1, None)), ((3, 4, 0.99),))  # NOT NULL violation
    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        replace_recipient_groups(conn, recipient, [good, broken], method="tfidf", threshold=0.8, data_version="x")
    with db.connect() as conn:
        assert read_recipient_groups(conn, recipient) == before
    db.dispose()


def run_job(instance, url, tmp_path, keys):
    """The real job, with its database RetryPolicy (30-120 s waits if bad input were retried)."""
    from platform_assets.nlp.jobs import nlp_similarity_job

    defs = dg.Definitions(
        assets=[goals, goal_similarity_groups], jobs=[nlp_similarity_job], resources=resources(url, tmp_path)
    )
    return defs.resolve_job_def("nlp_similarity_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
    )


@pytest.mark.parametrize(
    "bad_key, message",
    [("424242", "unknown recipient(s) 424242"), ("abc", "partition key(s) 'abc' are not recipient ids")],
)
def test_bad_partition_fails_once_without_retries(goals_engine, goals_db_url, instance, tmp_path, bad_key, message):
    corpus = seed(goals_engine, [12])
    known = str(next(iter(corpus.recipients)))
    instance.add_dynamic_partitions("nlp_recipients", [known, bad_key])
    result = run_job(instance, goals_db_url, tmp_path, [known, bad_key])
    assert not result.success
    assert message in error_text(result)
    assert materialized_partitions(result) == [known]
    assert [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []
    assert len(result.get_step_failure_events()) == 1


def test_unreachable_database_retries_then_names_the_host(instance, tmp_path, postgres_server):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    url = f"postgresql+psycopg2://hub:s3cret-pw@127.0.0.1:{closed_port}/goals"
    instance.add_dynamic_partitions("nlp_recipients", ["1"])
    result = run(
        instance, url, tmp_path, ["1"], raise_on_error=False, connect_attempts=3, retry_base_delay_seconds=0.01
    )
    assert not result.success
    message = error_text(result)
    assert f"127.0.0.1:{closed_port}/goals" in message and "after 3 attempts" in message
    assert "s3cret-pw" not in message


def test_daily_schedule_syncs_partitions_and_requests_one_run(goals_engine, goals_db_url, instance):
    from sensors.nlp.daily import nlp_daily_schedule

    corpus = seed(goals_engine, [5, 5, 5])
    instance.add_dynamic_partitions("nlp_recipients", ["777"])  # no longer in the database
    with dg.build_schedule_context(
        instance=instance,
        resources={"goals_db": GoalsDatabase(url=goals_db_url)},
        scheduled_execution_time=datetime.datetime(2025, 1, 2, 5),
    ) as context:
        requests = list(nlp_daily_schedule.evaluate_tick(context).run_requests)
    keys = [str(r) for r in sorted(corpus.recipients)]
    assert instance.get_dynamic_partitions("nlp_recipients") == keys
    assert len(requests) == 1
    assert requests[0].tags["dagster/asset_partition_range_start"] == keys[0]
    assert requests[0].tags["dagster/asset_partition_range_end"] == keys[-1]
    observed = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=GOALS_KEY, asset_partitions=[keys[0]]), limit=1
    )
    assert observed.records[0].asset_observation.tags["dagster/data_version"]


def test_checks_fail_on_a_stored_group_that_mixes_recipients(goals_engine, goals_db_url, instance, tmp_path):
    """The checks read what is stored: a group member from another recipient, also listed in a
    second group, fails two checks in the next run even though nothing is recomputed."""
    corpus = seed(goals_engine, [40, 30])
    first, second = sorted(corpus.recipients)
    keys = [str(first), str(second)]
    sync_recipient_partitions(instance, corpus.recipients)
    run(instance, goals_db_url, tmp_path, keys, {"method": "tfidf"})
    t = tables()
    with goals_engine.connect() as conn:
        grouped = {g for group in read_recipient_groups(conn, second) for g in group["members"]}
    foreign = next(g for g in corpus.goals_by_recipient()[second] if g.id not in grouped)
    with goals_engine.begin() as conn:
        group_ids = conn.execute(
            sa.select(t.goal_similarity_groups.c.id).where(t.goal_similarity_groups.c.recipient_id == first)
        ).scalars()
        group_id = next(iter(group_ids))
        conn.execute(
            sa.insert(t.goal_similarity_group_goals),
            {
                "group_id": group_id,
                "goal_id": foreign.id,
                "grant_id": foreign.grant_id,
                "recipient_id": first,
                "name": "x",
            },
        )
    again = run(instance, goals_db_url, tmp_path, keys, {"method": "tfidf"})
    assert materialized_partitions(again) == []  # nothing changed upstream: all skipped
    checks = {c.check_name: c.passed for c in again.get_asset_check_evaluations()}
    assert checks[ONE_RECIPIENT] is False and checks[NO_GOAL_TWICE] is True
    with goals_engine.begin() as conn:
        other_group = (
            conn.execute(
                sa.select(t.goal_similarity_groups.c.id).where(t.goal_similarity_groups.c.recipient_id == second)
            )
            .scalars()
            .first()
        )
        conn.execute(
            sa.insert(t.goal_similarity_group_goals),
            {
                "group_id": other_group,
                "goal_id": foreign.id,
                "grant_id": foreign.grant_id,
                "recipient_id": second,
                "name": "x",
            },
        )
    checks = {
        c.check_name: c.passed
        for c in run(instance, goals_db_url, tmp_path, keys, {"method": "tfidf"}).get_asset_check_evaluations()
    }
    assert checks[NO_GOAL_TWICE] is False
