"""Dagster's SQLite and PostgreSQL event-log storages, with a run's planned events in one write.

Creating a run over N partitions makes Dagster record one ASSET_MATERIALIZATION_PLANNED
event per partition, sent as one event batch. With event batches on (the platform's
instance has them on), Dagster hands the batch to ``store_event_batch``, but its own SQLite and PostgreSQL storages then
store planned events one by one: a commit per partition on SQLite (~9 ms) and two new
connections per partition on PostgreSQL (~12 ms; its storage keeps no pool). For the CTS
sensor's runs over hundreds of jobs that, not the import, bounded the drain (docs/cts.md).

The subclasses (here and in `postgres_event_storage.py`) store the planned materializations
of a batch as Dagster stores a batch of materializations: the same rows (event log, asset
index, the asset's last run), in order, in one transaction per database (PostgreSQL: one;
SQLite: the run's shard, then the index, as Dagster's `store_event` writes them). Every
other event goes the inherited way. `with_planned_event_batches` gives an existing storage
the method; the platform's instance class (`platform_assets.runtime.instance`) applies it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from itertools import groupby

from dagster import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqlEventLogStorage, SqliteEventLogStorage
from dagster._core.storage.event_log.base import EventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result
from sqlalchemy.engine import Connection


def is_planned_materialization(event: EventLogEntry) -> bool:
    return event.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED


def index_planned(
    storage: SqlEventLogStorage, conn: Connection, events: Sequence[EventLogEntry], ids: Sequence[int]
) -> None:
    """What `store_event` writes to the asset index besides the event row: its tags, and
    per asset its last planned run (only each asset's last event changes that row)."""
    storage._store_asset_event_tags(conn, events, ids)  # Dagster's own index writes
    last_per_asset = {event.dagster_event.asset_key: (event, id_) for event, id_ in zip(events, ids, strict=True)}  # type: ignore[union-attr]
    for event, id_ in last_per_asset.values():
        storage._store_asset_event(conn, event, id_)


class PlannedEventBatches(SqlEventLogStorage):
    """``store_event_batch`` for Dagster's SQL storages: the planned materializations of a
    batch in one write (``store_planned``, per database), every other event as Dagster
    stores it, all in the order Dagster sent them."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if not any(is_planned_materialization(event) for event in events):
            return super().store_event_batch(events)  # Dagster's (PostgreSQL: one insert for materializations)
        for is_planned, run in groupby(events, key=is_planned_materialization):
            if is_planned:
                self.store_planned(list(run))
            else:  # Dagster's own batch write takes one event type only
                for event in run:
                    self.store_event(event)

    def store_planned(self, events: list[EventLogEntry]) -> None:
        raise NotImplementedError


class BatchedSqliteEventLogStorage(PlannedEventBatches, SqliteEventLogStorage):
    def store_planned(self, events: list[EventLogEntry]) -> None:
        for run_id, of_run in groupby(events, key=lambda event: event.run_id):  # one run, as Dagster sends them
            with self.run_connection(run_id) as conn:
                conn.execute(self.prepare_insert_event_batch(list(of_run)))
        with self.index_transaction() as conn:
            ids = []
            for event in events:  # the index needs each row's id: one insert each, one commit
                with db_result(conn, self.prepare_insert_event(event)) as result:
                    ids.append(result.inserted_primary_key[0])
            index_planned(self, conn, events, ids)


def batched_class(storage_class: type) -> type | None:
    """The subclass storing planned events in one write, for Dagster's two SQL storages
    (exactly those classes: a subclass may already write differently)."""
    if storage_class is SqliteEventLogStorage:
        return BatchedSqliteEventLogStorage
    postgres = sys.modules.get("dagster_postgres")  # imported already if the storage is one
    if postgres is not None and storage_class is postgres.PostgresEventLogStorage:
        from platform_assets.runtime.postgres_event_storage import BatchedPostgresEventLogStorage

        return BatchedPostgresEventLogStorage
    return None


def with_planned_event_batches(storage: EventLogStorage) -> EventLogStorage:
    """``storage`` itself, its planned events now stored in one write where its class is one
    of Dagster's two extended here; any other storage unchanged. The object keeps its state
    (connections, schema checks already done): only its class gains the one method."""
    batched = batched_class(type(storage))
    if batched is not None:
        storage.__class__ = batched
    return storage
