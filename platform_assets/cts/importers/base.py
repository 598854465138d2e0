"""What an importer is: a table contract (name, keys, pyarrow schema) plus a ``parse``
function from a CTS job's verified output files to rows.

The platform does everything else (fetching the job, checksum verification, MERGE,
retries, metadata), so an importer is a few dozen lines and idempotent by construction.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.cts.checksums import verify_crc64nvme
from platform_assets.cts.strict_cast import ReportFormatError
from resources.lazy_imports import lazy_import

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


class NoReportFiles(ValueError):
    """The job has no output file the importer knows how to read."""


class UnknownOutputFile(LookupError):
    """An importer asked for a file that is not among the job's outputs."""


class VerifiedOutputs:
    """A CTS job's output files; every read is checked against the job's crc64nvme."""

    def __init__(self, job: Mapping[str, Any], read_bytes: Callable[[str], bytes]):
        self.job_id = job["id"]
        self._checksums = {o["file"]: o.get("crc64nvme") for o in job.get("outputs") or []}
        self._read = read_bytes
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
            raise NoReportFiles(
                f"CTS job {self.job_id!r} has no output file matching {list(patterns)}; outputs: {self.paths or 'none'}"
            )
        return found

    def read_bytes(self, path: str) -> bytes:
        if path not in self._checksums:
            raise UnknownOutputFile(f"{path!r} is not an output of CTS job {self.job_id!r}")
        data = self._read(path)
        self.verified[path] = verify_crc64nvme(path, data, self._checksums[path])
        return data

    def read_text(self, path: str) -> str:
        try:
            return self.read_bytes(path).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ReportFormatError(f"{path}: not UTF-8 text ({e})") from None


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

    @functools.cached_property
    def job(self) -> dg.UnresolvedAssetJobDefinition:
        return dg.define_asset_job(
            f"cts_import_{self.name}",
            selection=dg.AssetSelection.assets(self.asset_key),
            tags={IMPORTER_TAG: self.name, **IMPORT_JOB_TAGS},
            description=f"Import CTS jobs of image {self.image_name} into {self.table}",
        )

    def variant_for(self, digest: str) -> str:
        """The declared processing variant for an image digest ("default" if undeclared)."""
        return self.digest_handling.get(digest, "default")
