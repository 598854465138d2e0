"""Shared pytest fixtures that start real services (see tests/support/services.py).

Registered for the whole suite by ``tests/conftest.py`` (``pytest_plugins``).

- ``kafka_broker``: one Tansu broker per session (``.bootstrap_servers``); tests isolate
  themselves by topic names of their own.
- ``fresh_kafka_broker``: a broker of the test's own, for tests that stop or restart it.
- ``s3_server``: one moto S3 server per session -> :class:`S3Endpoint` (``endpoint_url``,
  credentials, ``client()``, ``create_bucket()``, ``env()``); sets nothing global.
- ``s3_bucket``: a fresh bucket on that server per test.
- ``s3_env``: ``monkeypatch``-sets the AWS_* variables for ``s3_server`` for one test.
- ``cts_emulator``: a fresh CTS emulator per test (``.url``, ``.token``, ``add_job``...).
"""

from __future__ import annotations

import pytest

from tests.support import services
from tests.support.services import S3Endpoint


@pytest.fixture(scope="session")
def kafka_broker():
    with services.kafka_broker() as broker:
        yield broker


@pytest.fixture
def fresh_kafka_broker():
    with services.kafka_broker() as broker:
        yield broker


@pytest.fixture(scope="session")
def s3_server():
    with services.s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_server: S3Endpoint) -> str:
    return s3_server.create_bucket()


@pytest.fixture
def s3_env(s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> S3Endpoint:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def cts_emulator():
    with services.cts_emulator() as emulator:
        yield emulator
