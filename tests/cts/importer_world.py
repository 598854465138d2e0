"""CTS importer test helpers: a `CtsWorld` (real CTS emulator, real object store on disk or
moto S3, real Delta) and report builders. The fixtures `cts_world` and `s3_cts_world`
are in tests/cts/conftest.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import dagster as dg

from localdev.cts_emulator import CtsEmulator
from platform_assets.cts.checksums import crc64nvme_b64
from platform_assets.cts.importers import checkm2, gtdbtk
from platform_assets.cts.importers.base import Importer
from resources.cts.client import CtsClient
from resources.cts.lake import DeltaLake
from resources.cts.outputs import CtsObjectStore

CHECKM2_IMAGE = checkm2.IMPORTER.image_name
GTDBTK_IMAGE = gtdbtk.IMPORTER.image_name
CHECKM2_HEADER = [
    "Name",
    "Completeness",
    "Contamination",
    "Completeness_Model_Used",
    "Translation_Table_Used",
    "Coding_Density",
    "Contig_N50",
    "Average_Gene_Length",
    "Genome_Size",
    "GC_Content",
    "Total_Coding_Sequences",
    "Total_Contigs",
    "Max_Contig_Length",
    "Additional_Notes",
]


def checkm2_row(name: str, completeness: float = 98.5, **overrides) -> dict:
    row = {
        "Name": name,
        "Completeness": completeness,
        "Contamination": 0.42,
        "Completeness_Model_Used": "Neural Network (Specific Model)",
        "Translation_Table_Used": 11,
        "Coding_Density": 0.876,
        "Contig_N50": 154321,
        "Average_Gene_Length": 312.5,
        "Genome_Size": 4_600_000,
        "GC_Content": 0.51,
        "Total_Coding_Sequences": 4321,
        "Total_Contigs": 87,
        "Max_Contig_Length": 601234,
        "Additional_Notes": "None",
    }
    row.update(overrides)
    return row


def checkm2_report(rows: list[dict]) -> bytes:
    lines = ["\t".join(CHECKM2_HEADER)]
    lines += ["\t".join(str(r[c]) for c in CHECKM2_HEADER) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def run_materializations(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetMaterialization]:
    """The materializations a run recorded (import runs log them as one batch, straight
    to the instance, so they are read from there, not from the in-process result)."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    return [r.asset_materialization for r in records if r.asset_materialization is not None]


@dataclass
class CtsWorld:
    """An emulated CTS plus the object store holding its outputs and a lake."""

    emulator: CtsEmulator
    store: CtsObjectStore
    lake: DeltaLake
    bucket: str = "cts-data"
    instance: dg.DagsterInstance = field(default_factory=dg.DagsterInstance.ephemeral)

    def client(self, **overrides) -> CtsClient:
        settings: dict = {
            "timeout_seconds": 2.0,
            "max_attempts": 4,
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.05,
            **overrides,
        }
        return CtsClient(url=self.emulator.url, token=self.emulator.token, **settings)

    def resources(self, **extra) -> dict:
        return {"cts_client": self.client(), "lake": self.lake, "cts_outputs": self.store, **extra}

    def add_job(
        self,
        image: str,
        files: dict[str, bytes],
        *,
        job_id: str | None = None,
        digest: str = "sha256:" + "a" * 64,
        corrupt: frozenset[str] | set[str] = frozenset(),
        state: str = "complete",
    ) -> str:
        """Upload ``files`` (name -> content) as the job's outputs and register the job.

        Names in ``corrupt`` get a checksum of different content (a corrupted upload).
        """
        job_id = job_id or f"job-{uuid.uuid4().hex[:10]}"
        outputs = []
        for name, data in files.items():
            path = f"{self.bucket}/out/{job_id}/{name}"
            self.store.write_bytes(path, data)
            checksum = crc64nvme_b64(data + b"x" if name in corrupt else data)
            outputs.append({"file": path, "crc64nvme": checksum})
        self.emulator.add_job(
            job_id=job_id,
            image_name=image,
            image_digest=digest,
            outputs=outputs,
            state=state,
            output_dir=f"{self.bucket}/out/{job_id}",
        )
        return job_id

    def materialize(
        self,
        asset: dg.AssetsDefinition,
        importer: Importer,
        job_id: str,
        raise_on_error: bool = True,
        **extra_resources,
    ) -> dg.ExecuteInProcessResult:
        self.instance.add_dynamic_partitions(importer.partitions_name, [job_id])
        return dg.materialize(
            [asset],
            partition_key=job_id,
            instance=self.instance,
            resources=self.resources(**extra_resources),
            raise_on_error=raise_on_error,
        )
