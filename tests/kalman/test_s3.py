"""The same sensor and assets against S3 (a real moto server): ETags as data versions,
staging from and atomic publishing to a bucket."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from platform_assets.kalman.cases import case_key, output_prefix
from resources.shared.blob import BlobStorage
from tests.kalman.helpers import computations, materialize_case, requested_partitions, run_sensor, write_demo_case

pytestmark = pytest.mark.slow  # runs the external program on S3


@pytest.fixture
def s3_blob(s3_env, s3_bucket) -> BlobStorage:
    return BlobStorage(url=f"s3://{s3_bucket}/platform", aws_endpoint_url=s3_env.endpoint_url)


def test_s3_cases_are_discovered_computed_once_and_recomputed_on_change(instance, s3_blob, s3_env, s3_bucket):
    write_demo_case(s3_blob, "demo-smooth")
    write_demo_case(s3_blob, "bad", seed=3)
    s3_blob.write_bytes(case_key("bad", "config.json"), json.dumps({"es_mda_iterations": 0}).encode())

    first = run_sensor(instance, s3_blob, None)
    assert requested_partitions(first) == ["bad", "demo-smooth"]
    recorded = {e.partition: e.metadata["etags"].value for e in first.asset_events}
    head = s3_env.client().head_object(Bucket=s3_bucket, Key="platform/" + case_key("demo-smooth", "prior.parquet"))
    assert recorded["demo-smooth"]["prior.parquet"] == head["ETag"].strip('"')
    assert materialize_case(instance, s3_blob, "demo-smooth").success
    bad = materialize_case(instance, s3_blob, "bad")
    assert not bad.success

    keys = [o["Key"] for o in s3_env.client().list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert "platform/kalman/posterior/demo-smooth/_CURRENT" in keys
    assert not any(k.startswith("platform/kalman/posterior/bad/") for k in keys)
    version = s3_blob.resolve(output_prefix("demo-smooth"))
    posterior = pd.read_parquet(io.BytesIO(s3_blob.read_bytes(f"{version}/posterior.parquet")))
    assert posterior.shape == (60, 40)

    # unchanged bucket: nothing requested, nothing recomputed
    second = run_sensor(instance, s3_blob, first.cursor)
    assert second.run_requests == []
    assert materialize_case(instance, s3_blob, "demo-smooth").get_asset_materialization_events() == []
    assert computations(instance, "demo-smooth") == 1

    # fix the bad case (new ETag): only it is requested, and it now computes
    s3_blob.write_bytes(case_key("bad", "config.json"), json.dumps({"seed": 1}).encode())
    third = run_sensor(instance, s3_blob, second.cursor)
    assert requested_partitions(third) == ["bad"]
    assert materialize_case(instance, s3_blob, "bad").success
    assert computations(instance, "bad") == 1 and computations(instance, "demo-smooth") == 1
