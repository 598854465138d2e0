"""Memory and time of parsing one large CheckM2 report: the platform's streaming reader
against reading it whole (the first design: bytes, then text, then ``splitlines``, then
every value cast at once), same file, same machine, same run.

Each side runs in a fresh process; the figure is the growth of its peak RSS over the
process after imports (what a 1 GiB import step has to hold), and wall-clock time.

    .venv/bin/python bench/bench_cts_report.py [--mb 34]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STEP_LIMIT_MB = 1024  # the k8s memory limit of a CheckM2 import step


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_report(path: Path, megabytes: float) -> int:
    from tests.cts.importer_world import CHECKM2_HEADER, checkm2_row

    lines = ["\t".join(CHECKM2_HEADER)]
    size, i = 0, 0
    while size < megabytes * 1_000_000:
        row = checkm2_row(f"genome_{i:08d}", 50 + (i % 50), Additional_Notes=f"note {i}")
        line = "\t".join(str(row[c]) for c in CHECKM2_HEADER)
        lines.append(line)
        size += len(line) + 1
        i += 1
    path.write_text("\n".join(lines) + "\n")
    return i


def measure(side: str, root: str, rows: int) -> dict:
    from platform_assets.cts.checksums import crc64nvme_b64
    from platform_assets.cts.importers import checkm2
    from platform_assets.cts.importers.base import ImportContext, VerifiedOutputs
    from platform_assets.cts.strict_cast import cast_rows
    from resources.cts.outputs import CtsObjectStore

    store = CtsObjectStore(url=f"file://{root}", max_file_bytes=1 << 40)
    path = "cts-data/out/big/quality_report.tsv"
    data = (Path(root) / path).read_bytes()
    job = {
        "id": "big",
        "image": {"name": checkm2.IMPORTER.image_name, "digest": "sha256:" + "a" * 64},
        "job_input": {"output_dir": "cts-data/out/big"},
        "outputs": [{"file": path, "crc64nvme": crc64nvme_b64(data)}],
    }
    del data
    schema = checkm2.IMPORTER.schema
    import pyarrow as pa  # imported before the baseline RSS is taken

    before = peak_rss_mb()
    start = time.perf_counter()
    if side == "platform":
        table = checkm2.parse_checkm2(ImportContext(job=job, outputs=VerifiedOutputs(job, store)))
    else:  # the first design: whole bytes -> text -> splitlines -> cast everything at once
        text = store.read_bytes(path).decode("utf-8")
        lines = text.splitlines()
        header = lines[0].split("\t")
        parsed = [(n, line.split("\t")) for n, line in enumerate(lines[1:], start=2) if line.strip()]
        values = cast_rows(path, header, parsed, schema, null_tokens=("", "NA", "N/A"))
        values["cts_job_id"] = ["big"] * len(parsed)
        table = pa.table({n: values[n] for n in schema.names}, schema=schema)
    seconds = time.perf_counter() - start
    assert table.num_rows == rows, (table.num_rows, rows)
    return {"seconds": seconds, "rss_growth_mb": peak_rss_mb() - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=34.0, help="report size in MB")
    parser.add_argument("--side", choices=["platform", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(measure(args.side, args.root, args.rows)))
        return

    with tempfile.TemporaryDirectory() as root:
        report = Path(root) / "cts-data/out/big/quality_report.tsv"
        report.parent.mkdir(parents=True)
        rows = write_report(report, args.mb)
        size_mb = report.stat().st_size / 1e6
        results = {}
        for side in ("platform", "baseline"):
            command = [sys.executable, __file__, "--side", side, "--root", root, "--rows", str(rows)]
            results[side] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    platform, baseline = results["platform"], results["baseline"]
    print(f"report: {size_mb:.1f} MB, {rows:,} rows")
    for name, r in (("platform (streamed)", platform), ("baseline (read whole)", baseline)):
        print(f"{name:22s}: {r['seconds']:6.1f} s, peak RSS +{r['rss_growth_mb']:6.0f} MB")
    print(
        f"memory ratio baseline/platform: {baseline['rss_growth_mb'] / max(platform['rss_growth_mb'], 1):.1f}x; "
        f"time ratio: {baseline['seconds'] / platform['seconds']:.2f}x"
    )
    shares = [100 * r["rss_growth_mb"] / STEP_LIMIT_MB for r in (platform, baseline)]
    print(f"distance to the {STEP_LIMIT_MB} MiB step limit: platform uses {shares[0]:.0f}%, baseline {shares[1]:.0f}%")


if __name__ == "__main__":
    main()
