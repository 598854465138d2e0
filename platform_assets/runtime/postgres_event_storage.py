"""PostgreSQL's event-log storage with a run's planned events in one write (`event_storage.py`
says why). A module of its own so that the SQLite instance of `make dev` never imports
dagster-postgres (~0.2 s)."""

from __future__ import annotations

from collections.abc import Sequence

from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster_postgres import PostgresEventLogStorage

from platform_assets.runtime.event_storage import index_planned, is_planned_materialization, planned_runs


class BatchedPostgresEventLogStorage(PostgresEventLogStorage):
    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if not any(is_planned_materialization(event) for event in events):
            return super().store_event_batch(events)  # Dagster's (one insert for materializations)
        for is_planned, run in planned_runs(events):
            if is_planned:
                self.store_planned(run)
            else:  # Dagster's batch write takes one event type only
                for event in run:
                    self.store_event(event)

    def store_planned(self, events: list[EventLogEntry]) -> None:
        """Rows and index in one transaction: a failure stores nothing, and Dagster's
        fallback (storing the batch one by one) then stores each event once."""
        insert = self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id)
        with self.index_transaction() as conn:
            ids = [row[0] for row in conn.execute(insert).fetchall()]
            index_planned(self, conn, events, ids)
