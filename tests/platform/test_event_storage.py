"""The platform's instance stores a run's planned events in one write, and stores exactly
what Dagster would store one by one.

Invariant (property test): for any batch of planned events (any partition keys, several
assets, check events mixed in), the batched storage holds the same run log, the same asset
index and the same last planned run per asset as Dagster's storage writing them one by one.
Through the public path: a run over a partition range, created on the instance the
repository's dagster.yaml configures (SQLite, and PostgreSQL as in k8s), leaves every
partition of the range in progress and no other.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.events import (
    AssetCheckEvaluationPlanned,
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventType,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log import SqlEventLogStorage, SqliteEventLogStorage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_assets.provenance.dagster_internals import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from platform_assets.runtime.event_storage import BatchedSqliteEventLogStorage, with_planned_event_batches
from platform_assets.runtime.instance import PlatformInstance

REPO = Path(__file__).resolve().parents[2]
PLANNED = DagsterEventType.ASSET_MATERIALIZATION_PLANNED


def entry(run_id: str, event_type: DagsterEventType, message: str, data) -> EventLogEntry:
    """A step's event as Dagster logs it when a run is created."""
    event = DagsterEvent(
        event_type_value=event_type.value, job_name="job", message=message, event_specific_data=data, step_key="step"
    )
    return EventLogEntry(
        error_info=None,
        level=10,
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        step_key="step",
        job_name="job",
        dagster_event=event,
    )


def planned(run_id: str, asset: str, partition: str | None) -> EventLogEntry:
    data = AssetMaterializationPlannedData(dg.AssetKey(asset), partition=partition)
    return entry(run_id, PLANNED, f"job intends to materialize asset {asset}", data)


def check_planned(run_id: str, asset: str) -> EventLogEntry:
    """An event of another type that Dagster sends in the same batch as planned ones."""
    data = AssetCheckEvaluationPlanned(asset_key=dg.AssetKey(asset), check_name="rows")
    message = f"job intends to execute asset check rows on asset {asset}"
    return entry(run_id, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, message, data)


def stored(storage: SqlEventLogStorage, run_id: str, assets: set[str]) -> dict:
    """What a reader sees: the run's log, each asset's planned events in the index, and
    each asset's last planned run."""

    def content(records) -> list[tuple]:
        return [(r.event_log_entry.dagster_event_type, r.event_log_entry.message, r.partition_key) for r in records]

    index = {
        asset: content(
            storage.get_event_records(dg.EventRecordsFilter(PLANNED, asset_key=dg.AssetKey(asset)), ascending=True)
        )
        for asset in sorted(assets)
    }
    last_runs = {
        str(r.asset_entry.asset_key): r.asset_entry.last_run_id
        for r in storage.get_asset_records([dg.AssetKey(a) for a in assets])
    }
    return {
        "run": content(storage.get_records_for_run(run_id, limit=10_000).records),
        "index": index,
        "last_runs": last_runs,
    }


# partition keys: any UTF-8 text but NUL, which PostgreSQL text cannot hold (Dagster's own write fails)
batches = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.one_of(
                st.none(),
                st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=20),
            ),
        ),
        st.sampled_from(["a", "b"]),  # an asset check planned in the same batch
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def storages(request, tmp_path_factory) -> tuple[SqlEventLogStorage, SqlEventLogStorage]:
    """Dagster's storage, and the same storage with planned-event batches (each example
    writes its own run and assets)."""
    if request.param == "sqlite":
        one_by_one = SqliteEventLogStorage(str(tmp_path_factory.mktemp("one-by-one")))
        batched = SqliteEventLogStorage(str(tmp_path_factory.mktemp("batched")))
    else:
        from dagster_postgres import PostgresEventLogStorage

        server = request.getfixturevalue("postgres_server")
        one_by_one, batched = (  # type: ignore[assignment]
            PostgresEventLogStorage(server.create_database(f"s_{uuid.uuid4().hex[:12]}")) for _ in range(2)
        )
    kind = type(batched)
    assert type(with_planned_event_batches(batched)) is not kind
    return one_by_one, batched


@pytest.mark.slow  # ~0.3 s per example: every event is a commit (or two connections) one by one
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=batches)
def test_a_batch_stores_what_storing_its_events_one_by_one_stores(storages, batch):
    one_by_one, batched = storages
    run = uuid.uuid4().hex
    events = [
        check_planned(run, f"{run}_{item}") if isinstance(item, str) else planned(run, f"{run}_{item[0]}", item[1])
        for item in batch
    ]
    for event in events:
        one_by_one.store_event(event)
    batched.store_event_batch(events)
    assets = {f"{run}_{item if isinstance(item, str) else item[0]}" for item in batch}
    assert stored(batched, run, assets) == stored(one_by_one, run, assets)


def test_storages_not_extended_stay_as_they_are():
    with dg.DagsterInstance.ephemeral() as instance:
        storage = instance.event_log_storage
        kind = type(storage)
        assert type(with_planned_event_batches(storage)) is kind


JOBS = dg.DynamicPartitionsDefinition(name="jobs")


@dg.asset(partitions_def=JOBS)
def imported() -> None:
    return None


@dg.asset_check(asset=imported)
def rows_present() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def repository_instance(home: Path, storage: dict | None = None) -> dg.DagsterInstance:
    """The instance of the repository's dagster.yaml (storage overridden for PostgreSQL)."""
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    if storage is not None:
        with (home / "dagster.yaml").open("a") as config:
            config.write("\n" + yaml.safe_dump({"storage": storage}))
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def assert_a_range_run_plans_exactly_its_partitions(instance: dg.DagsterInstance) -> None:
    keys = [f"job-{i:03d}" for i in range(60)]
    instance.add_dynamic_partitions("jobs", keys)
    job = dg.Definitions(assets=[imported], asset_checks=[rows_present]).resolve_implicit_global_asset_job_def()
    run = instance.create_run_for_job(
        job_def=job, tags={ASSET_PARTITION_RANGE_START_TAG: keys[10], ASSET_PARTITION_RANGE_END_TAG: keys[49]}
    )
    records = instance.get_records_for_run(run.run_id, of_type=PLANNED, limit=1_000).records
    assert sorted(str(r.partition_key) for r in records) == keys[10:50]
    statuses = instance.get_status_by_partition(imported.key, keys, JOBS)
    assert statuses is not None
    in_progress = [key for key, status in statuses.items() if status == dg.AssetPartitionStatus.IN_PROGRESS]
    assert in_progress == keys[10:50]
    assert all(statuses[key] is None for key in keys[:10] + keys[50:])
    checks = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED).records
    assert len(checks) == 1


def test_the_repository_instance_plans_a_range_in_one_write_on_sqlite(tmp_path, monkeypatch):
    """No environment needed: the instance has Dagster's event batches on by itself."""
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    writes = []
    store_planned = BatchedSqliteEventLogStorage.store_planned
    monkeypatch.setattr(
        BatchedSqliteEventLogStorage,
        "store_planned",
        lambda self, events: writes.append(len(events)) or store_planned(self, events),
    )
    with repository_instance(tmp_path) as instance:
        assert isinstance(instance, PlatformInstance)
        assert type(instance.event_log_storage) is BatchedSqliteEventLogStorage
        assert_a_range_run_plans_exactly_its_partitions(instance)
    assert writes == [40]  # the range's 40 planned events, in one write


def test_the_repository_instance_plans_a_range_in_one_write_on_postgres(tmp_path, monkeypatch, postgres_url):
    from platform_assets.runtime.postgres_event_storage import BatchedPostgresEventLogStorage

    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    with repository_instance(tmp_path, {"postgres": {"postgres_url": postgres_url}}) as instance:
        assert type(instance.event_log_storage) is BatchedPostgresEventLogStorage
        assert_a_range_run_plans_exactly_its_partitions(instance)


def test_dagsters_own_instance_writes_the_same_one_by_one(tmp_path):
    """The same range run on Dagster's instance (batches off, storage not extended): the
    same partitions in progress."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert type(instance.event_log_storage) is not BatchedSqliteEventLogStorage
        assert_a_range_run_plans_exactly_its_partitions(instance)
