"""A real PostgreSQL 15 server for tests, started on a free 127.0.0.1 port.

Why not a mock or SQLite only: the goals database is PostgreSQL in production, and the
eligibility query, quoted camelCase identifiers and transactional replace must be proven
against the real thing. The server is session scoped (initdb takes ~1 s); every test that
asks for ``postgres_url`` gets a fresh, empty database on it.

Registered for the whole suite by ``tests/conftest.py`` (``pytest_plugins``).

If the binaries are missing, the fixture fails with the exact command to install them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
INSTALL_HINT = "PostgreSQL server binaries not found; install them with: apt-get install -y postgresql"


@dataclass(frozen=True)
class PostgresServer:
    """A running server: ``url(dbname)`` gives a SQLAlchemy URL (trust auth, no password)."""

    host: str
    port: int
    user: str
    bin_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _psql(self, sql: str) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(sql)
        finally:
            engine.dispose()


def find_pg_bin() -> Path | None:
    override = os.environ.get("PG_BIN_DIR")
    for candidate in ((override,) if override else ()) + PG_BIN_CANDIDATES:
        if candidate and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb/pg_ctl refuse to run as root: drop to the postgres user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def start_postgres(base_dir: Path) -> tuple[PostgresServer, Path]:
    """Initialise a cluster under ``base_dir`` and start it; returns (server, data dir)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError(INSTALL_HINT)
    data_dir = base_dir / "pgdata"
    data_dir.mkdir(parents=True)
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    if os.geteuid() == 0:
        shutil.chown(base_dir, "postgres", "postgres")
        shutil.chown(data_dir, "postgres", "postgres")
    _run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", user, "--no-sync"]))
    last_error: Exception | None = None
    for _ in range(3):  # another process may grab the free port between probe and bind
        port = _free_port()
        opts = f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        try:
            _run(
                _as_postgres(
                    [
                        str(bin_dir / "pg_ctl"),
                        "-D",
                        str(data_dir),
                        "-o",
                        opts,
                        "-l",
                        str(data_dir / "server.log"),
                        "-w",
                        "start",
                    ]
                )
            )
            return PostgresServer("127.0.0.1", port, user, bin_dir), data_dir
        except RuntimeError as exc:
            last_error = exc
    raise RuntimeError(f"could not start PostgreSQL: {last_error}")


def stop_postgres(server: PostgresServer, data_dir: Path) -> None:
    subprocess.run(
        _as_postgres([str(server.bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"]),
        capture_output=True,
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if find_pg_bin() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="pg-test-"))
    server, data_dir = start_postgres(base)
    try:
        yield server
    finally:
        stop_postgres(server, data_dir)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server (dropped after the test)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)
