"""A lost output is rebuilt (issue 11, item 4): each family says how to check that its
recorded output still exists (`output_missing=`), and an unchanged step whose output is
gone recomputes instead of skipping. Real families on `make dev`'s demo data."""

from __future__ import annotations

import shutil
import warnings

import dagster as dg
import pytest

from platform_assets.provenance import REASON_METADATA_KEY
from resources.settings import settings
from tests.provenance.conftest import all_resources

pytestmark = pytest.mark.slow  # external program, Delta tables, Dask


def latest_reason(instance: dg.DagsterInstance, path: str, partition: str) -> str:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey.from_user_string(path), asset_partitions=[partition]), limit=1
    ).records
    materialization = records[0].asset_materialization
    assert materialization is not None
    return str(materialization.metadata[REASON_METADATA_KEY].value)


def count(instance: dg.DagsterInstance, path: str, partition: str) -> int:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey.from_user_string(path), asset_partitions=[partition]), limit=100
    ).records
    return len(records)


def materialize(instance, asset, partition, **kwargs) -> None:
    warnings.simplefilter("ignore")
    assert dg.materialize(
        [asset], instance=instance, resources=all_resources(), partition_key=partition, **kwargs
    ).success


def test_a_deleted_delta_table_is_imported_again(demo_world):
    """Before: `rm -r $PLATFORM_LAKE_URL/cts/checkm2` and a re-run skipped, the table stayed missing."""
    from platform_assets.cts.assets import IMPORT_ASSETS

    checkm2 = next(a for a in IMPORT_ASSETS if a.key.to_user_string() == "cts/checkm2")
    lake = all_resources()["lake"]
    for _ in range(2):
        materialize(demo_world, checkm2, "demo-checkm2-1")
    assert count(demo_world, "cts/checkm2", "demo-checkm2-1") == 1
    shutil.rmtree(lake.table_uri("cts/checkm2"))
    materialize(demo_world, checkm2, "demo-checkm2-1")
    assert count(demo_world, "cts/checkm2", "demo-checkm2-1") == 2
    assert "Delta table" in latest_reason(demo_world, "cts/checkm2", "demo-checkm2-1")
    assert lake.read("cts/checkm2").num_rows == 4  # demo job 1: four genomes


def test_rows_of_one_job_lost_from_a_shared_table_are_imported_again(demo_world):
    """The table can exist while one job's rows are gone (e.g. rebuilt by another import)."""
    from platform_assets.cts.assets import IMPORT_ASSETS

    checkm2 = next(a for a in IMPORT_ASSETS if a.key.to_user_string() == "cts/checkm2")
    lake = all_resources()["lake"]
    materialize(demo_world, checkm2, "demo-checkm2-1")
    materialize(demo_world, checkm2, "demo-checkm2-2")
    lake.table("cts/checkm2").delete("cts_job_id = 'demo-checkm2-1'")
    materialize(demo_world, checkm2, "demo-checkm2-2")  # intact: skips
    materialize(demo_world, checkm2, "demo-checkm2-1")  # rows gone: imported again
    assert count(demo_world, "cts/checkm2", "demo-checkm2-2") == 1
    assert count(demo_world, "cts/checkm2", "demo-checkm2-1") == 2
    assert "rows gone" in latest_reason(demo_world, "cts/checkm2", "demo-checkm2-1")


def test_a_kalman_case_whose_published_outputs_are_gone_is_computed_again(demo_world):
    from platform_assets.kalman.assets import case_inputs, posterior
    from platform_assets.kalman.cases import output_prefix

    demo_world.add_dynamic_partitions("kalman_cases", ["demo-smooth"])
    blob = all_resources()["blob"]
    for _ in range(2):
        assert dg.materialize(
            [case_inputs, posterior], instance=demo_world, resources=all_resources(), partition_key="demo-smooth"
        ).success
    assert count(demo_world, "kalman/posterior", "demo-smooth") == 1
    (settings().home / "blob" / output_prefix("demo-smooth") / "_CURRENT").unlink()
    assert dg.materialize(
        [case_inputs, posterior], instance=demo_world, resources=all_resources(), partition_key="demo-smooth"
    ).success
    assert count(demo_world, "kalman/posterior", "demo-smooth") == 2
    assert "nothing published" in latest_reason(demo_world, "kalman/posterior", "demo-smooth")
    assert blob.current(output_prefix("demo-smooth")) is not None


def test_a_recipient_whose_parquet_is_gone_is_recomputed_alone(demo_world):
    from platform_assets.nlp.assets import BLOB_PREFIX, goal_similarity_groups
    from platform_assets.nlp.partitions import all_recipients_range

    recipients = all_recipients_range(demo_world)
    assert recipients is not None
    tags = {
        "dagster/asset_partition_range_start": recipients.start,
        "dagster/asset_partition_range_end": recipients.end,
    }
    for _ in range(2):
        assert dg.materialize(
            [goal_similarity_groups], instance=demo_world, resources=all_resources(), tags=tags
        ).success
    lost = recipients.start
    (settings().home / "blob" / BLOB_PREFIX / f"recipient={lost}" / "groups.parquet").unlink()
    assert dg.materialize([goal_similarity_groups], instance=demo_world, resources=all_resources(), tags=tags).success
    keys = demo_world.get_dynamic_partitions("nlp_recipients")
    assert {key: count(demo_world, "nlp/goal_similarity_groups", key) for key in keys} == {
        key: 2 if key == lost else 1 for key in keys
    }
    assert "groups.parquet is gone" in latest_reason(demo_world, "nlp/goal_similarity_groups", lost)


def test_a_propagation_partition_whose_state_is_gone_is_computed_again(demo_world):
    from platform_assets.propagation.assets import trajectory

    small = {"ops": {"propagation__trajectory": {"config": {"ensemble_size": 16, "chunk_size": 8, "use_dask": False}}}}
    for _ in range(2):
        materialize(demo_world, trajectory, "500", run_config=small)
    (published,) = (settings().home / "blob" / "propagation" / "trajectory").rglob("state.npz")
    published.unlink()
    materialize(demo_world, trajectory, "500", run_config=small)
    assert count(demo_world, "propagation/trajectory", "500") == 2
    assert "state.npz is gone" in latest_reason(demo_world, "propagation/trajectory", "500")
