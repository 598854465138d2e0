"""Spark for heavy importer parsing (``SPARK_MASTER``; local default ``local[*]``).

The session is created on first use through dagster-pyspark's
``spark_session_from_config`` (the builder behind ``PySparkResource``), so a run whose
steps never touch Spark never pays the ~7 s JVM start. This resource mirrors
``dagster_pyspark.LazyPySparkResource`` (``spark_config``, ``spark_session``) but imports
pyspark only when a session is needed: loading the code location must stay fast.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import PrivateAttr


def spark_config(master: str) -> dict[str, Any]:
    """Driver bound to 127.0.0.1 (no port exposed beyond the pod/laptop), no UI, no console progress."""
    return {
        "spark.master": master,
        "spark.app.name": "open-data-platform",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",  # no progress bars in the run worker's console
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.session.timeZone": "UTC",
    }


class SparkResource(dg.ConfigurableResource):
    """A lazily created SparkSession (``.spark_session``) configured by ``spark_config``."""

    spark_config: dict[str, Any]
    _session: Any = PrivateAttr(default=None)

    @property
    def spark_session(self):
        if self._session is None:
            from dagster_pyspark.resources import spark_session_from_config

            self._session = spark_session_from_config(self.spark_config)
        return self._session
