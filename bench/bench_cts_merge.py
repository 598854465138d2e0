"""Per-commit MERGE cost as imports accumulate, with and without table maintenance, and
the cost per job when a run's jobs share one MERGE.

The import MERGE (``DeltaLake.merge``: join on the keys within the job's slice, update
what differs, insert what is new, delete what the report lost) of N single-job imports
(5 rows each) into one table on disk, one commit each:

- without maintenance: every commit adds a file and a log entry; the cost grows;
- with maintenance: ``DeltaLake.maintain`` (what the hourly `cts_table_maintenance` job
  runs: compaction, retention-safe vacuum, checkpoint, log cleanup) every
  ``--maintain-every`` commits (the schedule's stand-in at this import rate);
- batched: the same jobs, ``--batch`` per MERGE (what a run of the sensor's batches does).

Printed: mean ms per commit for the first and last 200 commits of each, their ratio
(1.0 = flat), files at the end, and ms per job batched against one commit per job.

    .venv/bin/python bench/bench_cts_merge.py [--imports 1200] [--maintain-every 100] [--batch 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WINDOW = 200
KEYS = ("cts_job_id", "Name")


def rows_of(jobs: list[str]):
    import pyarrow as pa

    from platform_assets.cts.importers import checkm2

    schema = checkm2.IMPORTER.schema
    n = 5 * len(jobs)
    columns: dict[str, list] = {name: [None] * n for name in schema.names}
    columns["cts_job_id"] = [job for job in jobs for _ in range(5)]
    columns["Name"] = [f"genome_{g}" for _ in jobs for g in range(5)]
    columns["Completeness"] = [90.0] * n
    columns["Contamination"] = [1.0] * n
    return pa.table(columns, schema=schema)


def imports(root: Path, n: int, maintain_every: int | None) -> tuple[list[float], int]:
    """Seconds of each single-job MERGE commit (maintenance not counted), files at the end."""
    from resources.cts.lake import DeltaLake

    lake = DeltaLake(url=f"file://{root}")
    times = []
    for i in range(n):
        job = f"job-{i:06d}"
        data = rows_of([job])
        start = time.perf_counter()
        lake.merge("cts/checkm2", data, KEYS, target_filter={"cts_job_id": job}, delete_missing=True)
        times.append(time.perf_counter() - start)
        if maintain_every and (i + 1) % maintain_every == 0:
            lake.maintain("cts/checkm2")
    return times, len(lake.table("cts/checkm2").file_uris())


def batched(root: Path, n: int, batch: int) -> float:
    """Seconds per job when ``batch`` jobs share one MERGE commit."""
    from resources.cts.lake import DeltaLake

    lake = DeltaLake(url=f"file://{root}")
    jobs = [f"job-{i:06d}" for i in range(n)]
    start = time.perf_counter()
    for first in range(0, n, batch):
        chunk = jobs[first : first + batch]
        lake.merge("cts/checkm2", rows_of(chunk), KEYS, target_filter={"cts_job_id": chunk}, delete_missing=True)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--imports", type=int, default=1_200)
    parser.add_argument("--maintain-every", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        plain, plain_files = imports(Path(tmp) / "plain", args.imports, None)
        kept, kept_files = imports(Path(tmp) / "kept", args.imports, args.maintain_every)
        per_job_batched = batched(Path(tmp) / "batched", args.imports, args.batch)

    def ms(values: list[float]) -> float:
        return 1000 * statistics.mean(values)

    print(f"{args.imports:,} single-job imports (5 rows each), one MERGE commit each, table on disk")
    print(f"{'':34s} {'first 200':>10s} {'last 200':>10s} {'growth':>8s} {'files':>7s}")
    for name, times, files in (
        ("without maintenance", plain, plain_files),
        (f"maintenance every {args.maintain_every} commits", kept, kept_files),
    ):
        first, last = ms(times[:WINDOW]), ms(times[-WINDOW:])
        print(f"{name:34s} {first:8.1f}ms {last:8.1f}ms {last / first:7.2f}x {files:7d}")
    single = ms(kept)
    print(
        f"batched, {args.batch} jobs per MERGE: {1000 * per_job_batched:.2f} ms per job vs {single:.1f} ms per job "
        f"with a commit each ({single / (1000 * per_job_batched):.0f}x)"
    )
    growth = ms(kept[-WINDOW:]) / ms(kept[:WINDOW])
    print(
        f"goal: per-commit cost flat with maintenance (growth last/first 200 <= 1.2): {growth:.2f}x -> {growth <= 1.2}"
    )


if __name__ == "__main__":
    main()
