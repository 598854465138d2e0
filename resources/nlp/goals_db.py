"""The goals database (TTA Hub PostgreSQL in production, a SQLite file locally).

`GOALS_DATABASE_URL` is read through `dg.EnvVar` when set (the URL may carry a password, so
it is never baked into the definitions); unset means `sqlite:///$PLATFORM_HOME/goals.db`.
Connections are retried with exponential backoff because database restarts and failovers
are routine; after the last attempt the error names the host and database, never the
password. Jobs add a Dagster `RetryPolicy` on top for longer outages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import PrivateAttr


class GoalsDatabaseUnavailable(Exception):
    """The goals database could not be reached after all retries."""


class GoalsDatabase(dg.ConfigurableResource):
    """SQLAlchemy access to the goals database, with connection retries."""

    url: str
    connect_attempts: int = 4
    retry_base_delay_seconds: float = 0.5
    connect_timeout_seconds: int = 10

    _engine: Any = PrivateAttr(default=None)

    @property
    def safe_location(self) -> str:
        """Where the database is, for messages: driver, host, port, database; no credentials."""
        import sqlalchemy as sa

        url = sa.make_url(self.url)
        if url.get_backend_name() == "sqlite":
            return f"sqlite file {url.database or ':memory:'}"
        return f"{url.get_backend_name()} at {url.host}:{url.port or 'default port'}/{url.database}"

    def engine(self):
        """One pooled engine per resource instance; `pool_pre_ping` drops dead connections."""
        if self._engine is None:
            import sqlalchemy as sa

            url = sa.make_url(self.url)
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if url.get_backend_name() == "postgresql":
                kwargs["connect_args"] = {"connect_timeout": self.connect_timeout_seconds}
            elif url.get_backend_name() == "sqlite" and url.database:
                from pathlib import Path

                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"timeout": self.connect_timeout_seconds}
            self._engine = sa.create_engine(url, **kwargs)
        return self._engine

    def _with_retries(self, action):
        import sqlalchemy as sa

        last: Exception | None = None
        for attempt in range(1, self.connect_attempts + 1):
            try:
                return action()
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
                if not (exc.connection_invalidated or _is_connection_error(exc)):
                    raise
                last = exc
                if attempt < self.connect_attempts:
                    time.sleep(self.retry_base_delay_seconds * 2 ** (attempt - 1))
        reason = str(getattr(last, "orig", last)).strip().splitlines()[0] if last else "unknown error"
        raise GoalsDatabaseUnavailable(
            f"goals database unreachable ({self.safe_location}) after {self.connect_attempts} attempts: "
            f"{_without_password(reason, self.url)}"
        ) from None

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A connection (autobegin; commit yourself) obtained with retries."""
        conn = self._with_retries(lambda: self.engine().connect())
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def begin(self) -> Iterator[Any]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        with self.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.dispose()


def _is_connection_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(
        s in text
        for s in (
            "connect",
            "server closed",
            "terminating connection",
            "timeout",
            "unable to open database",
            "could not translate host",
        )
    )


def _without_password(text: str, url: str) -> str:
    import sqlalchemy as sa

    password = sa.make_url(url).password
    return text.replace(str(password), "***") if password else text
