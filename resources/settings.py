"""Platform settings from the environment (names fixed by ARCHITECTURE.md).

Unset means the embedded local default, so `dagster dev` needs no configuration.
Reading settings does no I/O; call `settings()` where needed (it re-reads the
environment, which tests rely on).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LOCAL_KAFKA = "127.0.0.1:9092"
LOCAL_CTS_URL = "http://127.0.0.1:8085"
DEFAULT_CTS_JOBS_TOPIC = "cts-jobs"
DEFAULT_CTS_JOBS_DLQ_TOPIC = "cts-jobs-dlq"


@dataclass(frozen=True)
class PlatformSettings:
    env: str
    home: Path
    blob_url: str
    lake_url: str
    aws_endpoint_url: str | None
    kafka_bootstrap_servers: str
    cts_jobs_topic: str
    cts_jobs_dlq_topic: str
    cts_url: str
    goals_database_url: str
    dask_scheduler_address: str | None
    spark_master: str

    @property
    def is_k8s(self) -> bool:
        return self.env == "k8s"


def settings() -> PlatformSettings:
    env = os.environ
    platform_env = env.get("PLATFORM_ENV", "local")
    if platform_env not in {"local", "k8s"}:
        raise ValueError(f"PLATFORM_ENV must be 'local' or 'k8s', got {platform_env!r}")
    home = Path(env.get("PLATFORM_HOME", "./.platform")).expanduser().resolve()
    return PlatformSettings(
        env=platform_env,
        home=home,
        blob_url=env.get("PLATFORM_BLOB_URL", f"file://{home}/blob"),
        lake_url=env.get("PLATFORM_LAKE_URL", f"file://{home}/lake"),
        aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA),
        cts_jobs_topic=env.get("CTS_JOBS_TOPIC", DEFAULT_CTS_JOBS_TOPIC),
        cts_jobs_dlq_topic=env.get("CTS_JOBS_DLQ_TOPIC", DEFAULT_CTS_JOBS_DLQ_TOPIC),
        cts_url=env.get("CTS_URL", LOCAL_CTS_URL),
        goals_database_url=env.get("GOALS_DATABASE_URL", f"sqlite:///{home}/goals.db"),
        dask_scheduler_address=env.get("DASK_SCHEDULER_ADDRESS") or None,
        spark_master=env.get("SPARK_MASTER", "local[*]"),
    )
