"""`nlp_goals_observation`: `nlp/goals` is observed when the code location starts and
whenever the goals database changes, not only by the 05:00 schedule.

Each tick (every minute) computes every recipient's goals data version, the same hash the
similarity asset compares (`recipient_goal_versions`), keeps the recipient partitions in
sync, and reports an observation for each recipient whose version differs from the last
one this sensor reported (its cursor). The cursor also remembers which code-location
process wrote it: the first tick after the code location (re)started observes every
recipient, so the asset that decides what recomputes never reads "Never observed".
Observations are runless events (no run, no run worker), so polling costs one database
read per minute.
"""

from __future__ import annotations

import json
import uuid

import dagster as dg

from platform_assets.nlp.assets import GOALS_KEY, recipient_goal_versions
from platform_assets.nlp.partitions import sync_recipient_partitions
from platform_assets.provenance.dagster_internals import DATA_VERSION_TAG
from resources.nlp.goals_db import GoalsDatabase

# a new value each time the code location's process starts
CODE_LOCATION_START = uuid.uuid4().hex


def changed_versions(cursor: str | None, versions: dict[str, str]) -> dict[str, str]:
    """The recipients to observe: all after a (re)start, else those whose version moved."""
    previous = json.loads(cursor) if cursor else {}
    if previous.get("start") != CODE_LOCATION_START:
        return dict(versions)
    seen = previous.get("versions", {})
    return {key: version for key, version in versions.items() if seen.get(key) != version}


@dg.sensor(
    name="nlp_goals_observation",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Observes nlp/goals at start and whenever the goals database changes.",
)
def nlp_goals_observation(context: dg.SensorEvaluationContext, goals_db: GoalsDatabase) -> dg.SensorResult:
    versions = recipient_goal_versions(goals_db)
    sync_recipient_partitions(context.instance, [int(key) for key in versions])
    changed = changed_versions(context.cursor, versions)
    if changed:
        context.log.info(f"observed {len(changed)} of {len(versions)} recipients")
    return dg.SensorResult(
        asset_events=[
            dg.AssetObservation(asset_key=GOALS_KEY, partition=key, tags={DATA_VERSION_TAG: version})
            for key, version in sorted(changed.items())
        ],
        cursor=json.dumps({"start": CODE_LOCATION_START, "versions": versions}, sort_keys=True),
    )
