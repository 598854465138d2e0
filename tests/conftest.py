"""Suite-wide set-up.

Isolation: every test session gets its own PLATFORM_HOME, and nothing a developer has
exported for `dagster dev` leaks into the tests.

Tiers: a test that needs a real service (broker, S3, PostgreSQL, Dask cluster, CTS
emulator) is marked `slow` automatically from the fixtures it uses; tests that start
processes or whole pipelines say so with `pytest.mark.slow`. `make check` runs the rest.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.fixtures", "tests.support.postgres"]

_session_home = Path(tempfile.mkdtemp(prefix="platform-test-home-"))
os.environ["PLATFORM_HOME"] = str(_session_home)
os.environ.pop("PLATFORM_ENV", None)
for _name in ("PLATFORM_BLOB_URL", "PLATFORM_LAKE_URL", "DAGSTER_HOME"):
    os.environ.pop(_name, None)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SERVICE_FIXTURES = {
    "kafka_broker",
    "fresh_kafka_broker",
    "s3_server",
    "postgres_server",
    "cts_emulator",
    "dask_client",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
