"""Propagation fixtures: a real Dask LocalCluster, a Dagster instance, file blob storage."""

import dagster as dg
import pytest

from resources.propagation.dask import DaskResource
from resources.shared.blob import BlobStorage


@pytest.fixture(scope="module")
def dask_client():
    """A real 2-worker LocalCluster with worker processes (so tasks really get pickled)."""
    resource = DaskResource(n_workers=2, processes=True, threads_per_worker=1)
    try:
        yield resource.get_client()
    finally:
        resource.close()


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def blob(tmp_path) -> BlobStorage:
    return BlobStorage(url=f"file://{tmp_path}/blob")
