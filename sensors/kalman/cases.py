"""`kalman_case_sensor`: discover new and changed Kalman cases in blob storage.

One code path for `file://` and `s3://` (through `BlobStorage.list`). A case's data
version is the hash of the ETags (content md5) of its three files; the cursor remembers
the version last seen per case. For each case whose version changed the sensor
- adds the case as a dynamic partition (if new),
- records a materialization of `kalman/case_inputs` for that partition carrying the data
  version (the provenance core compares it with what the posterior was computed from),
- requests a run of `kalman/posterior` for that partition only, tagged
  `platform/kalman_case=<case>` (dagster.yaml limits those runs to one per case).
A case is picked up only once all three files exist; a half-uploaded case waits, and so
does a changed case whose posterior is being computed (queued or running, whoever asked):
its cursor entry is kept, so the next tick after that run ends requests it. This sensor is
the only requester of new and changed cases; automation only handles new code versions.
"""

import hashlib
import json
from collections import defaultdict

import dagster as dg

from platform_assets.kalman.assets import case_inputs, posterior
from platform_assets.kalman.cases import CASE_FILES, CASES_PREFIX
from platform_assets.kalman.jobs import kalman_posterior_job
from platform_assets.kalman.partitions import KALMAN_CASES, kalman_cases

# Dagster's data-version tag (AssetMaterialization has no data_version argument) and the
# unfinished run statuses: not re-exported by Dagster
from platform_assets.provenance.dagster_internals import DATA_VERSION_TAG, NOT_FINISHED_STATUSES
from resources.shared.blob import BlobStorage

CASE_TAG = "platform/kalman_case"  # run tag; tag_concurrency_limits: one run per case


def cases_in_progress(instance: dg.DagsterInstance, cases: list[str]) -> set[str]:
    """Cases with an unfinished run (queued, starting, running) that materializes the posterior."""
    if not cases:
        return set()
    records = instance.get_run_records(dg.RunsFilter(statuses=NOT_FINISHED_STATUSES))
    return {
        record.dagster_run.tags.get("dagster/partition", "")
        for record in records
        if record.dagster_run.job_name == kalman_posterior_job.name
        or posterior.key in (record.dagster_run.asset_selection or ())
    } & set(cases)


def case_versions(blob: BlobStorage) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(case -> data version, case -> {file: etag}) for every complete case folder."""
    etags: dict[str, dict[str, str]] = defaultdict(dict)
    for info in blob.list(CASES_PREFIX):
        case, _, filename = info.key[len(CASES_PREFIX) :].partition("/")
        if filename in CASE_FILES:
            etags[case][filename] = info.etag
    complete = {case: files for case, files in etags.items() if set(files) == set(CASE_FILES)}
    versions = {
        case: hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:24]
        for case, files in complete.items()
    }
    return versions, complete


@dg.sensor(
    name="kalman_case_sensor",
    job=kalman_posterior_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=__doc__.split("\n\n")[0],
)
def kalman_case_sensor(context: dg.SensorEvaluationContext, blob: BlobStorage) -> dg.SensorResult:
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    versions, etags = case_versions(blob)
    changed = sorted(case for case, version in versions.items() if seen.get(case) != version)
    busy = cases_in_progress(context.instance, changed)
    changed = [case for case in changed if case not in busy]
    new = [case for case in changed if not context.instance.has_dynamic_partition(KALMAN_CASES, case)]
    if changed or busy:
        context.log.info(f"kalman cases changed: {changed} (new: {new}); waiting for running: {sorted(busy)}")
    cursor = {case: version for case, version in versions.items() if case not in busy}
    cursor.update({case: seen[case] for case in busy if case in seen})
    return dg.SensorResult(
        dynamic_partitions_requests=[kalman_cases.build_add_request(new)] if new else [],
        asset_events=[
            dg.AssetMaterialization(
                asset_key=case_inputs.key,
                partition=case,
                tags={DATA_VERSION_TAG: versions[case]},
                metadata={"etags": dg.MetadataValue.json(etags[case]), "url": blob.url_of(f"{CASES_PREFIX}{case}/")},
            )
            for case in changed
        ],
        run_requests=[
            dg.RunRequest(
                # the transition, not just the version: a case reverted to older inputs runs again
                run_key=f"{case}:{seen.get(case, 'new')}->{versions[case]}",
                partition_key=case,
                job_name=kalman_posterior_job.name,
                tags={CASE_TAG: case, "kalman/case_version": versions[case]},
            )
            for case in changed
        ],
        cursor=json.dumps(cursor, sort_keys=True),
    )
