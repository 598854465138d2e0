"""What an importer is: a table contract (name, keys, pyarrow schema) plus a ``parse``
function from a CTS job's verified output files to rows.

The platform does everything else (fetching the job, checksum verification, MERGE,
retries, metadata), so an importer is a few dozen lines and idempotent by construction.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import dagster as dg

from platform_assets.cts.checksums import Crc64Nvme, verify_crc64nvme
from platform_assets.cts.tsv import TsvReader
from resources.cts.outputs import parse_s3_path
from resources.cts.text import clip, printable
from resources.lazy_imports import lazy_import
from resources.settings import settings
from resources.shared.images import k8s_op_tags

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_import("pyarrow")

JOB_ID_COLUMN = "cts_job_id"
# run tag of every import run: the per-importer tag concurrency limit (dagster.yaml)
IMPORTER_TAG = "platform/importer"
# import jobs: a failed step already used its RetryPolicy (permanent errors none); a run
# retry would repeat permanent failures, so run retries only cover run-level failures
IMPORT_JOB_TAGS = {"dagster/retry_on_asset_or_op_failure": "false"}
# jobs one import run covers at most (sensor batches, backfill chunks): one MERGE commit each.
# A run's start (process and code load, ~2.5 s here; a pod in k8s, 10 s or more) is worth
# ~350 imports of ~7 ms; at up to 2,000 a run is mostly import work, and a burst of 2,500
# jobs is two runs side by side (a slot each, the per-importer limit is 2) instead of five
# in three waves: 27 s -> 17 s end to end (docs/cts.md). Its run config carries each job's
# event (typically ~0.3 KB).
MAX_JOBS_PER_RUN = 2_000


class NoReportFiles(ValueError):
    """The job has no output file the importer knows how to read."""


class UnknownOutputFile(LookupError):
    """An importer asked for a file that is not among the job's outputs."""


class OutsideOutputDir(ValueError):
    """The job document lists an output that is not below its ``job_input.output_dir``."""


class OutputStore(Protocol):
    """Where output files are read (``resources.cts.outputs.CtsObjectStore``)."""

    def open_chunks(self, path: str) -> AbstractContextManager[Iterator[bytes]]: ...


MAX_LISTED_PATHS = 20  # of a job's outputs quoted in an error


def confined_outputs(job: Mapping[str, Any]) -> dict[str, str | None]:
    """``{path: crc64nvme}`` of the job's outputs, each checked to lie strictly below the
    job's ``job_input.output_dir`` (same bucket, same prefix, no ``..``, no empty or
    absolute segments). Anything else is :class:`OutsideOutputDir` (or
    :class:`InvalidOutputPath`) naming the path; nothing outside is ever opened, so no
    error can tell anything about a file there."""
    job_input = job.get("job_input")
    output_dir = job_input.get("output_dir") if isinstance(job_input, Mapping) else None
    if not isinstance(output_dir, str):
        raise OutsideOutputDir(f"CTS job {job.get('id')!r} has no job_input.output_dir: its outputs cannot be confined")
    root = parse_s3_path(output_dir[:-1] if output_dir.endswith("/") else output_dir)
    outputs = job.get("outputs")
    if outputs is None:
        outputs = []
    if not isinstance(outputs, list):
        raise OutsideOutputDir(f"CTS job {job.get('id')!r}: outputs is a {type(outputs).__name__}, not a list")
    checksums: dict[str, str | None] = {}
    for number, output in enumerate(outputs):
        path = output.get("file") if isinstance(output, Mapping) else None
        crc = output.get("crc64nvme") if isinstance(output, Mapping) else None
        if not isinstance(path, str):
            raise OutsideOutputDir(f"CTS job {job.get('id')!r}: output {number} has no file path")
        if not parse_s3_path(path).is_within(root):
            raise OutsideOutputDir(
                f"CTS job {job.get('id')!r}: output {printable(path, 200)} is not below its "
                f"output_dir {printable(output_dir, 200)}"
            )
        checksums[path] = crc if isinstance(crc, str) else None
    return checksums


class VerifiedOutputs:
    """A CTS job's output files (confined to its output_dir); every read is checked
    against the job's crc64nvme before its content counts."""

    def __init__(self, job: Mapping[str, Any], store: OutputStore):
        self.job_id = job["id"]
        self._checksums = confined_outputs(job)
        self._store = store
        self.verified: dict[str, str] = {}  # path -> checksum, for metadata

    @property
    def paths(self) -> list[str]:
        return sorted(self._checksums)

    def matching(self, *patterns: str) -> list[str]:
        """Output paths whose file name matches one of the glob ``patterns``.

        Raises :class:`NoReportFiles` when there is none: a job without its report is
        an error, never an empty import.
        """
        found = [p for p in self.paths if any(fnmatch.fnmatch(p.rsplit("/", 1)[-1], pat) for pat in patterns)]
        if not found:
            listed = self.paths[:MAX_LISTED_PATHS]
            more = f" and {len(self.paths) - len(listed):,} more" if len(self.paths) > len(listed) else ""
            raise NoReportFiles(
                f"CTS job {self.job_id!r} has no output file matching {list(patterns)}; "
                f"outputs ({len(self.paths):,}): {clip(repr(listed), 3000) if listed else 'none'}{more}"
            )
        return found

    @contextlib.contextmanager
    def _verified_chunks(self, path: str) -> Iterator[Iterator[bytes]]:
        """The file's chunks; when the block ends, the whole file has been checksummed
        against the CTS record. If the block fails, the rest is still checksummed: a
        corrupted file is reported as such, not as whatever its damage looked like."""
        if path not in self._checksums:
            raise UnknownOutputFile(f"{path!r} is not an output of CTS job {self.job_id!r}")
        crc = Crc64Nvme()
        with self._store.open_chunks(path) as raw:
            chunks = crc.counting(raw)
            try:
                yield chunks
            except Exception as error:
                try:
                    crc.drain(chunks)
                except Exception:
                    raise error from None  # the read itself broke: the original error stands
                verify_crc64nvme(path, crc, self._checksums[path], cause=error)
                raise
            crc.drain(chunks)
        self.verified[path] = verify_crc64nvme(path, crc, self._checksums[path])

    @contextlib.contextmanager
    def open_tsv(self, path: str) -> Iterator[TsvReader]:
        """A streaming :class:`TsvReader` of the file; its rows count only once the block
        ends without error (then the whole file matched its checksum)."""
        with self._verified_chunks(path) as chunks:
            yield TsvReader(path, chunks)


@dataclass(frozen=True)
class ImportContext:
    """Everything a ``parse`` function may use."""

    job: Mapping[str, Any]
    outputs: VerifiedOutputs
    log: Any = logging.getLogger(__name__)
    spark: Any = None  # a SparkSession, only for importers with uses_spark=True

    @property
    def job_id(self) -> str:
        return self.job["id"]

    @property
    def image_digest(self) -> str:
        return self.job["image"]["digest"]


@dataclass(frozen=True, eq=False)
class Importer:
    """One CTS tool's import into ``$PLATFORM_LAKE_URL/cts/<name>``.

    ``digest_handling`` declares how known image digests are processed (digest ->
    variant); it is part of the asset's code version, like ``parse`` and its helpers.
    """

    name: str
    image_name: str
    keys: tuple[str, ...]
    declare_schema: Callable[[], pa.Schema]  # called on first use: pyarrow stays out of load
    parse: Callable[[ImportContext], pa.Table]
    uses_spark: bool = False
    digest_handling: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    @functools.cached_property
    def schema(self) -> pa.Schema:
        schema = self.declare_schema()
        missing = [k for k in self.keys if k not in schema.names]
        if missing:
            raise ValueError(f"importer {self.name!r}: keys {missing} are not in its schema")
        return schema

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(["cts", self.name])

    @property
    def table(self) -> str:
        return f"cts/{self.name}"

    @functools.cached_property
    def partitions_def(self) -> dg.DynamicPartitionsDefinition:
        return dg.DynamicPartitionsDefinition(name=self.partitions_name)

    @property
    def partitions_name(self) -> str:
        """One dynamic partition per imported CTS job id."""
        return f"cts_{self.name}_jobs"

    @property
    def op_name(self) -> str:
        """The op of the import asset (run config goes under ``ops.<op_name>``)."""
        return self.asset_key.to_python_identifier()

    @property
    def image(self) -> str:
        """The image its steps run in (``docker/<image>.Dockerfile``)."""
        return "spark" if self.uses_spark else "cts"

    @property
    def k8s_resources(self) -> dict[str, str]:
        return {"cpu": "2", "memory": "4Gi"} if self.uses_spark else {"cpu": "500m", "memory": "1Gi"}

    @property
    def runs_in_process(self) -> bool:
        """A run pays one process start, not two: the import step runs inside the run
        worker, except a Spark import on Kubernetes, which keeps its own pod (its image
        carries the JVM; ``k8s_job_executor``)."""
        return not (self.uses_spark and settings().is_k8s)

    @functools.cached_property
    def job(self) -> dg.UnresolvedAssetJobDefinition:
        tags: dict[str, Any] = {IMPORTER_TAG: self.name, **IMPORT_JOB_TAGS}
        if self.runs_in_process and settings().is_k8s:
            tags.update(k8s_op_tags(self.image, self.k8s_resources))  # the run pod runs the step's image
        return dg.define_asset_job(
            f"cts_import_{self.name}",
            selection=dg.AssetSelection.assets(self.asset_key),
            tags=tags,
            executor_def=dg.in_process_executor if self.runs_in_process else None,
            description=f"Import CTS jobs of image {self.image_name} into {self.table}",
        )

    def variant_for(self, digest: str) -> str:
        """The declared processing variant for an image digest ("default" if undeclared)."""
        return self.digest_handling.get(digest, "default")
