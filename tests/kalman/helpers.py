"""Helpers that drive the Kalman family through its public interfaces (sensor evaluation,
`dg.materialize`) and count what was really computed."""

from __future__ import annotations

import dagster as dg

from platform_assets.kalman.assets import case_inputs, posterior
from platform_assets.kalman.cases import case_key
from platform_assets.kalman.checks import kalman_checks
from platform_assets.kalman.demo import DEMO_CASES, case_files, make_case
from resources.shared.blob import BlobStorage
from resources.shared.pipes import local_pipes_client
from sensors.kalman.cases import kalman_case_sensor


def write_demo_case(blob: BlobStorage, case: str, seed: int | None = None, **kwargs) -> None:
    demo = make_case(DEMO_CASES.get(case, seed or 1), **kwargs)
    for filename, data in case_files(demo).items():
        blob.write_bytes(case_key(case, filename), data)


def run_sensor(instance: dg.DagsterInstance, blob: BlobStorage, cursor: str | None) -> dg.SensorResult:
    """Evaluate kalman_case_sensor and apply its side effects like the daemon does
    (dynamic partitions, reported asset events)."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"blob": blob, "pipes": local_pipes_client()}
    )
    result = kalman_case_sensor(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    return result


def requested_partitions(result: dg.SensorResult) -> list[str]:
    return sorted(str(request.partition_key) for request in result.run_requests or [])


def materialize_case(
    instance, blob, case: str, asset: dg.AssetsDefinition = posterior, tags=None, checks=True
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [case_inputs, asset, *(kalman_checks if checks else [])],
        partition_key=case,
        instance=instance,
        resources={"blob": blob, "pipes": local_pipes_client()},
        tags=tags,
        raise_on_error=False,
    )


def computations(instance: dg.DagsterInstance, case: str, key=posterior.key) -> int:
    """How many times the posterior of ``case`` was actually computed (materialized)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[case]), limit=100
    ).records
    return len(records)
