"""Resources of the CTS family: the CTS admin API, its output files, Kafka, the Delta
Lake and Spark (for heavy reports).

`cts_resources()` builds them from the environment (keys `cts_client`, `cts_outputs`,
`kafka`, `lake`, `spark`).
"""

from __future__ import annotations

from typing import Any

from resources.cts.client import CtsClient
from resources.cts.kafka import KafkaResource
from resources.cts.lake import DeltaLake
from resources.cts.outputs import CtsObjectStore
from resources.cts.spark import SparkResource, spark_config
from resources.settings import LOCAL_CTS_TOKEN, PlatformSettings, from_env, settings


def cts_resources(current: PlatformSettings | None = None) -> dict[str, Any]:
    current = current or settings()
    return {
        "cts_client": CtsClient(
            url=from_env("CTS_URL", current.cts_url),
            token=from_env("CTS_ADMIN_TOKEN", LOCAL_CTS_TOKEN),
        ),
        "cts_outputs": CtsObjectStore(
            url=from_env("CTS_OUTPUTS_URL", current.cts_outputs_url),
            aws_endpoint_url=from_env("AWS_ENDPOINT_URL"),
        ),
        "kafka": KafkaResource(
            bootstrap_servers=from_env("KAFKA_BOOTSTRAP_SERVERS", current.kafka_bootstrap_servers),
            jobs_topic=from_env("CTS_JOBS_TOPIC", current.cts_jobs_topic),
            dlq_topic=from_env("CTS_JOBS_DLQ_TOPIC", current.cts_jobs_dlq_topic),
        ),
        "lake": DeltaLake(
            url=from_env("PLATFORM_LAKE_URL", current.lake_url),
            aws_endpoint_url=from_env("AWS_ENDPOINT_URL"),
            s3_conditional_put=from_env("PLATFORM_LAKE_S3_CONDITIONAL_PUT"),
        ),
        "spark": SparkResource(spark_config=spark_config(current.spark_master)),
    }
