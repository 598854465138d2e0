"""Every environment variable the platform reads, in one place.

Unset means the embedded local default, so `dagster dev` needs no configuration. Two ways
to read a variable, both only through this module:

* `settings()` -> `PlatformSettings`: plain values, resolved now (what the code location
  needs at load time: `PLATFORM_ENV`, `PLATFORM_HOME`, the demo seeders, the k8s stagers);
* `from_env(name)` -> a resource field value: `dg.EnvVar(name)` when the variable is set
  (Dagster resolves it at run time, so it never appears in definitions, the UI or logs)
  and the local default otherwise.

`VARIABLES` is the table of record: the README's configuration table is generated from it
(`python -m resources.settings`) and a test keeps the two equal. Reading an undeclared
variable through this module raises.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

LOCAL_KAFKA = "127.0.0.1:9092"
LOCAL_CTS_URL = "http://127.0.0.1:8085"
LOCAL_CTS_TOKEN = "local-dev-token"  # the CTS emulator's token; not a secret
DEFAULT_CTS_JOBS_TOPIC = "cts-jobs"
DEFAULT_CTS_JOBS_DLQ_TOPIC = "cts-jobs-dlq"
PLATFORM_ENVS = ("local", "k8s")


@dataclass(frozen=True)
class Variable:
    """One environment variable: its meaning and its local default, as the README shows
    them; `secret` ones are only ever passed on as `dg.EnvVar`."""

    name: str
    meaning: str
    local_default: str
    secret: bool = False


VARIABLES: tuple[Variable, ...] = (
    Variable("PLATFORM_ENV", "`local` or `k8s`", "`local`"),
    Variable("PLATFORM_HOME", "local state root", "`./.platform`"),
    Variable(
        "PLATFORM_BLOB_URL", "blob storage root, `file://...` or `s3://bucket/prefix`", "`file://$PLATFORM_HOME/blob`"
    ),
    Variable(
        "PLATFORM_LAKE_URL", "Delta Lake root, `file://...` or `s3://bucket/prefix`", "`file://$PLATFORM_HOME/lake`"
    ),
    Variable("AWS_ENDPOINT_URL", "S3-compatible endpoint", "unset (AWS)"),
    Variable("AWS_REGION", "region of the S3 buckets (passed on to program pods)", "unset"),
    Variable("KAFKA_BOOTSTRAP_SERVERS", "Kafka brokers", "the embedded broker started by `make dev`"),
    Variable("CTS_JOBS_TOPIC", "topic of CTS job events", "`cts-jobs`"),
    Variable("CTS_JOBS_DLQ_TOPIC", "dead-letter topic of CTS job events", "`cts-jobs-dlq`"),
    Variable("CTS_URL", "CTS base URL", "the CTS emulator started by `make dev`"),
    Variable("CTS_ADMIN_TOKEN", "CTS admin bearer token", "the CTS emulator's token", secret=True),
    Variable(
        "CTS_OUTPUTS_URL",
        "where CTS job outputs (`bucket/key`) are read",
        "`s3://` when blob storage is S3, else `$PLATFORM_BLOB_URL/cts-s3`",
    ),
    Variable(
        "GOALS_DATABASE_URL", "SQLAlchemy URL of the goals database", "SQLite file in `$PLATFORM_HOME`", secret=True
    ),
    Variable("NLP_SIMILARITY_METHOD", "default goal similarity method, `minilm` or `tfidf`", "`minilm`"),
    Variable("DASK_SCHEDULER_ADDRESS", "existing Dask scheduler", "in-process `LocalCluster`"),
    Variable("SPARK_MASTER", "Spark master URL", "`local[*]`"),
    Variable(
        "PLATFORM_LAKE_S3_CONDITIONAL_PUT",
        "`etag`: safe concurrent Delta commits on S3 (set by the chart)",
        "unset (a warning on S3)",
    ),
    Variable(
        "PLATFORM_IMAGE_<NAME>", "image reference (by digest) of `docker/<name>.Dockerfile`", "`docker/images.json`"
    ),
    Variable(
        "PLATFORM_K8S_SECRETS",
        "JSON `{shared: [EnvVar], families: {<family>: [EnvVar]}}`: Secret *references* for pods (set by the chart)",
        "unset (no secrets in pods)",
    ),
    Variable(
        "PLATFORM_K8S_PROGRAM_SERVICE_ACCOUNT",
        "service account of program pods (no API access; set by the chart)",
        "unset (the namespace default)",
    ),
)
_DECLARED = {v.name for v in VARIABLES}
_IMAGE_VARIABLE = re.compile(r"PLATFORM_IMAGE_[A-Z0-9_]+")


def _declared(name: str) -> str:
    if name not in _DECLARED and not _IMAGE_VARIABLE.fullmatch(name):
        raise KeyError(f"{name} is not a platform setting; declare it in resources/settings.py VARIABLES")
    return name


def raw(name: str) -> str | None:
    """The value of a declared variable, or None when unset or empty."""
    return os.environ.get(_declared(name)) or None


def from_env(name: str, default: Any = None) -> Any:
    """A resource field value: `dg.EnvVar(name)` when set, else `default` (the local default)."""
    return dg.EnvVar(name) if raw(name) else default


@dataclass(frozen=True)
class PlatformSettings:
    """The settings as plain values, for code that runs outside a resource (the code
    location's assembly, demo seeders, k8s staging containers). Resources get their values
    through `from_env`, never from here, so secrets stay out of definitions."""

    env: str
    home: Path
    blob_url: str
    lake_url: str
    aws_endpoint_url: str | None
    kafka_bootstrap_servers: str
    cts_jobs_topic: str
    cts_jobs_dlq_topic: str
    cts_url: str
    cts_outputs_url: str
    goals_database_url: str
    nlp_similarity_method: str
    dask_scheduler_address: str | None
    spark_master: str

    @property
    def is_k8s(self) -> bool:
        return self.env == "k8s"


def settings() -> PlatformSettings:
    """The current settings; re-reads the environment on every call (cheap, no I/O)."""
    env = raw("PLATFORM_ENV") or "local"
    if env not in PLATFORM_ENVS:
        raise ValueError(f"PLATFORM_ENV must be one of {PLATFORM_ENVS}, got {env!r}")
    home = Path(raw("PLATFORM_HOME") or "./.platform").expanduser().resolve()
    blob_url = raw("PLATFORM_BLOB_URL") or f"file://{home}/blob"
    return PlatformSettings(
        env=env,
        home=home,
        blob_url=blob_url,
        lake_url=raw("PLATFORM_LAKE_URL") or f"file://{home}/lake",
        aws_endpoint_url=raw("AWS_ENDPOINT_URL"),
        kafka_bootstrap_servers=raw("KAFKA_BOOTSTRAP_SERVERS") or LOCAL_KAFKA,
        cts_jobs_topic=raw("CTS_JOBS_TOPIC") or DEFAULT_CTS_JOBS_TOPIC,
        cts_jobs_dlq_topic=raw("CTS_JOBS_DLQ_TOPIC") or DEFAULT_CTS_JOBS_DLQ_TOPIC,
        cts_url=raw("CTS_URL") or LOCAL_CTS_URL,
        cts_outputs_url=raw("CTS_OUTPUTS_URL")
        or ("s3://" if blob_url.startswith("s3://") else f"{blob_url.rstrip('/')}/cts-s3"),
        goals_database_url=raw("GOALS_DATABASE_URL") or f"sqlite:///{home}/goals.db",
        nlp_similarity_method=raw("NLP_SIMILARITY_METHOD") or "minilm",
        dask_scheduler_address=raw("DASK_SCHEDULER_ADDRESS"),
        spark_master=raw("SPARK_MASTER") or "local[*]",
    )


def image_override(name: str) -> str | None:
    """`PLATFORM_IMAGE_<NAME>` for image `name`, or None."""
    return raw(f"PLATFORM_IMAGE_{name.upper().replace('-', '_')}")


def markdown_table() -> str:
    """The README's configuration table."""
    lines = ["| variable | meaning | local default |", "|---|---|---|"]
    for v in VARIABLES:
        lines.append(f"| `{v.name}` | {v.meaning}{' (secret)' if v.secret else ''} | {v.local_default} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
