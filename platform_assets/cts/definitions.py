"""CTS family definitions: one import asset + job per importer, and their resources."""

from __future__ import annotations

import dagster as dg

from platform_assets.cts.assets import IMPORT_ASSETS, IMPORT_JOBS
from resources.cts import cts_client_resource
from resources.lake import lake_resource
from resources.object_store import cts_object_store_resource
from resources.spark import spark_resource

defs = dg.Definitions(
    assets=IMPORT_ASSETS,
    jobs=IMPORT_JOBS,
    resources={
        "cts_client": cts_client_resource(),
        "lake": lake_resource(),
        "cts_outputs": cts_object_store_resource(),
        "spark": spark_resource(),
    },
)

from sensors.cts import events_defs  # noqa: E402  (event sensors, DLQ, kafka resource)

defs = dg.Definitions.merge(defs, events_defs)
