"""Local demo data for the CTS family (called by `python -m localdev`).

Writes the output files of a few demo CTS jobs into the local stand-in for the CTS S3
data plane (``$PLATFORM_BLOB_URL/cts-s3``), writes their job documents to
``$PLATFORM_HOME/cts/jobs.json`` (served by the CTS emulator, which reloads the file when
it changes) and registers the importable jobs as dynamic partitions, so they can be
imported from the UI or by `complete` events on the `cts-jobs` topic. Idempotent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

from localdev.cts_emulator import job_document
from platform_assets.cts.checksums import crc64nvme_b64
from platform_assets.cts.importers import checkm2, gtdbtk
from platform_assets.cts.importers.registry import importer_for_image
from resources.cts.outputs import CtsObjectStore
from resources.settings import PlatformSettings

DEMO_BUCKET = "cts-data"
_GTDBTK_HEADER = [
    "user_genome",
    "classification",
    "closest_genome_reference",
    "closest_genome_ani",
    "msa_percent",
    "translation_table",
    "red_value",
    "warnings",
]


def _checkm2_report(seed: int, genomes: int) -> bytes:
    header = [name for name in checkm2.IMPORTER.schema.names if name != "cts_job_id"]
    lines = ["\t".join(header)]
    for g in range(genomes):
        k = seed * 10 + g
        lines.append(
            "\t".join(
                str(v)
                for v in [
                    f"GCA_{900000 + k:09d}.1",
                    round(80 + (k * 7) % 20 + 0.13, 2),
                    round((k * 3) % 50 / 10, 2),
                    "Neural Network (Specific Model)",
                    11,
                    round(0.85 + (k % 10) / 100, 3),
                    40000 + 997 * k,
                    round(300 + k * 1.5, 1),
                    3_000_000 + 12_345 * k,
                    round(0.4 + (k % 20) / 100, 2),
                    3000 + 17 * k,
                    20 + k % 90,
                    200_000 + 3_331 * k,
                    "None",
                ]
            )
        )
    return ("\n".join(lines) + "\n").encode()


def _gtdbtk_summary() -> bytes:
    rows = [
        [
            "GCA_900000001.1",
            "d__Bacteria;p__Pseudomonadota;c__Gammaproteobacteria;"
            "o__Enterobacterales;f__Enterobacteriaceae;g__Escherichia;s__Escherichia coli",
            "GCF_000005845.2",
            "98.91",
            "94.12",
            "11",
            "N/A",
            "N/A",
        ],
        [
            "GCA_900000002.1",
            "d__Bacteria;p__Bacillota;c__Bacilli;o__;f__;g__;s__",
            "N/A",
            "N/A",
            "81.3",
            "11",
            "0.912",
            "N/A",
        ],
    ]
    return ("\n".join("\t".join(r) for r in [_GTDBTK_HEADER, *rows]) + "\n").encode()


def demo_jobs() -> list[tuple[str, str, dict[str, bytes]]]:
    """(job id, image name, output files) of the demo jobs."""
    jobs = [
        (f"demo-checkm2-{i}", checkm2.IMPORTER.image_name, {"quality_report.tsv": _checkm2_report(i, 3 + i)})
        for i in range(1, 4)
    ]
    jobs.append(("demo-gtdbtk-1", gtdbtk.IMPORTER.image_name, {"gtdbtk.bac120.summary.tsv": _gtdbtk_summary()}))
    jobs.append(
        (
            "demo-no-importer-1",
            "ghcr.io/kbasetest/cdm_fastqc",
            {"report.html": b"<html>no importer for this image</html>\n"},
        )
    )
    return jobs


def demo_store(settings: PlatformSettings) -> CtsObjectStore:
    if settings.blob_url.startswith("s3://"):
        return CtsObjectStore(url="s3://", aws_endpoint_url=settings.aws_endpoint_url)
    return CtsObjectStore(url=f"{settings.blob_url.rstrip('/')}/cts-s3")


def jobs_file(settings: PlatformSettings) -> Path:
    return settings.home / "cts" / "jobs.json"


def seed_demo(settings: PlatformSettings, instance: dg.DagsterInstance) -> None:
    store = demo_store(settings)
    documents = []
    for job_id, image, files in demo_jobs():
        outputs = []
        for name, data in files.items():
            path = f"{DEMO_BUCKET}/demo/{job_id}/{name}"
            store.write_bytes(path, data)
            outputs.append({"file": path, "crc64nvme": crc64nvme_b64(data)})
        documents.append(
            job_document(
                job_id,
                image_name=image,
                outputs=outputs,
                image_digest="sha256:" + "d" * 64,
                output_dir=f"{DEMO_BUCKET}/demo/{job_id}",
            )
        )
        importer = importer_for_image(image)
        if importer and not instance.has_dynamic_partition(importer.partitions_name, job_id):
            instance.add_dynamic_partitions(importer.partitions_name, [job_id])

    target = jobs_file(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    content = json.dumps(documents, indent=1)
    if not target.exists() or target.read_text() != content:
        tmp = target.with_suffix(".tmp")
        tmp.write_text(content)
        os.replace(tmp, target)  # the emulator never reads a half-written file
