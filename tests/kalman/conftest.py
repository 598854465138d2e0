"""Kalman fixtures: a file:// blob store and a real (sqlite) Dagster instance; the moto S3
server comes from the shared fixtures. Helpers live in tests/kalman/helpers.py."""

from __future__ import annotations

import dagster as dg
import pytest

from resources.shared.blob import BlobStorage


@pytest.fixture
def blob(tmp_path) -> BlobStorage:
    return BlobStorage(url=f"file://{tmp_path}/blob")


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance
