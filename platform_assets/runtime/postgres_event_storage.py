"""PostgreSQL's event-log storage with a run's planned events in one write (`event_storage.py`
says why). A module of its own so that the SQLite instance of `make dev` never imports
dagster-postgres (~0.2 s)."""

from __future__ import annotations

from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster_postgres import PostgresEventLogStorage

from platform_assets.runtime.event_storage import PlannedEventBatches, index_planned


class BatchedPostgresEventLogStorage(PlannedEventBatches, PostgresEventLogStorage):
    def store_planned(self, events: list[EventLogEntry]) -> None:
        """Rows and index in one transaction: a failure stores nothing, and Dagster's
        fallback (storing the batch one by one) then stores each event once."""
        insert = self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id)
        with self.index_transaction() as conn:
            ids = [row[0] for row in conn.execute(insert).fetchall()]
            index_planned(self, conn, events, ids)
