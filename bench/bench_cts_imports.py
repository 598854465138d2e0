"""End-to-end CheckM2 imports/s: the platform's import asset against the original
processor's way (one event at a time, a new Spark session per job), same machine, same run.

Setup: the CTS emulator over HTTP, N small CheckM2 jobs (5 genomes each) whose reports lie
in a local object store, Delta tables on local disk.

- platform: `cts_import_checkm2` executed per job partition (`execute_in_process`: step
  machinery, provenance check, CTS fetch, crc64nvme verification, strict pyarrow parse,
  MERGE, `..._start`/`..._complete` meta PUTs), one job after the other (no credit taken
  for the parallel runs the platform would launch).
- baseline: per job, fetch it from the CTS, create a Spark session, parse the report with
  Spark (header + inferred types, as the original importer does), MERGE into Delta, stop
  the session. Spark start-up makes it slow, so by default it runs on the first
  `--baseline-jobs` jobs only; both figures are rates (imports/s).

    .venv/bin/python bench/bench_cts_imports.py [--jobs 200] [--baseline-jobs 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_jobs(emulator, store, n_jobs: int) -> list[str]:
    from platform_assets.cts.checksums import crc64nvme_b64
    from platform_assets.cts.demo import _checkm2_report
    from platform_assets.cts.importers import checkm2

    ids = []
    for j in range(n_jobs):
        job_id = f"bench-{j:05d}"
        data = _checkm2_report(j, 5)
        path = f"cts-data/bench/{job_id}/quality_report.tsv"
        store.write_bytes(path, data)
        emulator.add_job(
            job_id=job_id,
            image_name=checkm2.IMPORTER.image_name,
            outputs=[{"file": path, "crc64nvme": crc64nvme_b64(data)}],
            output_dir=f"cts-data/bench/{job_id}",
        )
        ids.append(job_id)
    return ids


def run_platform(job_ids, resources) -> float:
    import dagster as dg

    from platform_assets.cts.assets import build_import_asset
    from platform_assets.cts.importers.checkm2 import IMPORTER

    defs = dg.Definitions(assets=[build_import_asset(IMPORTER)], jobs=[IMPORTER.job], resources=resources)
    job = defs.resolve_job_def(IMPORTER.job.name)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(IMPORTER.partitions_name, list(job_ids))
        start = time.perf_counter()
        quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
        for job_id in job_ids:
            assert job.execute_in_process(partition_key=job_id, instance=instance, run_config=quiet).success
        return time.perf_counter() - start


def run_baseline(job_ids, cts, store, lake, tmp: Path) -> float:
    """The original processor: sequential events, a Spark session per job."""
    from pyspark.sql import SparkSession

    from resources.cts.spark import spark_config

    start = time.perf_counter()
    for job_id in job_ids:
        job = cts.get_job(job_id)
        path = job["outputs"][0]["file"]
        local = tmp / f"{job_id}.tsv"
        local.write_bytes(store.read_bytes(path))
        builder = SparkSession.builder
        for key, value in spark_config("local[*]").items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        frame = spark.read.csv(str(local), sep="\t", header=True, inferSchema=True)
        table = frame.toArrow()
        import pyarrow as pa

        table = table.append_column("cts_job_id", pa.array([job_id] * table.num_rows))
        lake.merge("cts/checkm2_baseline", table, ["cts_job_id", "Name"])
        spark.stop()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--baseline-jobs", type=int, default=10)
    args = parser.parse_args()

    import logging

    logging.getLogger("dagster").setLevel(logging.WARNING)
    from localdev.cts_emulator import CtsEmulator
    from resources.cts.client import CtsClient
    from resources.cts.lake import DeltaLake
    from resources.cts.outputs import CtsObjectStore

    with tempfile.TemporaryDirectory() as tmp_name, CtsEmulator(token="bench") as emulator:
        tmp = Path(tmp_name)
        store = CtsObjectStore(url=f"file://{tmp}/s3")
        lake = DeltaLake(url=f"file://{tmp}/lake")
        cts = CtsClient(url=emulator.url, token="bench")
        job_ids = make_jobs(emulator, store, args.jobs)

        platform_s = run_platform(job_ids, {"cts_client": cts, "lake": lake, "cts_outputs": store})
        baseline_ids = job_ids[: args.baseline_jobs]
        baseline_s = run_baseline(baseline_ids, cts, store, lake, tmp)

        rows = lake.read("cts/checkm2").num_rows
        assert rows == 5 * len(job_ids), rows
        platform_rate = len(job_ids) / platform_s
        baseline_rate = len(baseline_ids) / baseline_s
        print(f"platform: {len(job_ids)} imports in {platform_s:.1f}s = {platform_rate:.2f} imports/s")
        print(
            f"baseline: {len(baseline_ids)} imports in {baseline_s:.1f}s = "
            f"{baseline_rate:.2f} imports/s (Spark session per job)"
        )
        print(f"ratio platform/baseline: {platform_rate / baseline_rate:.1f}x")


if __name__ == "__main__":
    main()
