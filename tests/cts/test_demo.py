"""The local demo: seeded outputs + jobs file served by a standalone emulator, imported
with the resources built from the environment exactly as `dagster dev` builds them."""

from __future__ import annotations

import json

import dagster as dg

from localdev.cts_emulator import CtsEmulator
from platform_assets.cts import demo
from platform_assets.cts.assets import build_import_asset
from platform_assets.cts.importers import checkm2
from resources.cts import cts_resources
from resources.settings import settings


def test_seeded_demo_job_imports_through_env_configured_resources(tmp_path, monkeypatch):
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path))
    with dg.DagsterInstance.ephemeral() as instance, CtsEmulator(token="demo-token") as cts:
        cts.watch_jobs_file(tmp_path / "cts" / "jobs.json")  # before the file exists
        demo.seed_demo(settings(), instance)
        demo.seed_demo(settings(), instance)  # idempotent
        jobs = json.loads((tmp_path / "cts" / "jobs.json").read_text())
        assert [j["id"] for j in jobs] == [j for j, _, _ in demo.demo_jobs()]
        assert set(instance.get_dynamic_partitions("cts_checkm2_jobs")) == {
            "demo-checkm2-1",
            "demo-checkm2-2",
            "demo-checkm2-3",
        }

        monkeypatch.setenv("CTS_URL", cts.url)
        monkeypatch.setenv("CTS_ADMIN_TOKEN", "demo-token")
        dg.materialize(
            [build_import_asset(checkm2.IMPORTER)],
            partition_key="demo-checkm2-2",
            instance=instance,
            resources=cts_resources(),
        )
    lake = cts_resources()["lake"]
    assert lake.table_uri("cts/checkm2") == f"{tmp_path}/lake/cts/checkm2"
    rows = lake.read("cts/checkm2").to_pylist()
    assert len(rows) == 5 and {r["cts_job_id"] for r in rows} == {"demo-checkm2-2"}
