"""Skips as the UI shows them, end to end: a real daemon launches the runs and processes
the backfills, the webserver's GraphQL API (what the UI reads) reports check statuses and
backfill outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.provenance.live_location import live_location, wait_for_runs
from tests.support.processes import wait_until

pytestmark = pytest.mark.slow  # daemon, code server, webserver

CHECKS_QUERY = """
query Checks($path: [String!]!) {
  assetNodes(assetKeys: [{path: $path}]) {
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name executionForLatestMaterialization { status runId } } }
    }
  }
}
"""
LAUNCH_BACKFILL = """
mutation Backfill($path: [String!]!) {
  launchPartitionBackfill(backfillParams: {assetSelection: [{path: $path}], allPartitions: true}) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
BACKFILL_STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) { __typename ... on PartitionBackfill { status } }
}
"""
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


@pytest.fixture
def live(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    location = Path(__file__).with_name("skip_location.py")
    with live_location(tmp_path, location, webserver=True, env={"SKIP_STATE_DIR": str(state)}) as deployment:
        yield deployment, state


def counts(state: Path, name: str) -> int:
    path = state / f"{name}.count"
    return len(path.read_text().split()) if path.exists() else 0


def check_statuses(live) -> dict[str, tuple[str, str]]:
    data = live.graphql(CHECKS_QUERY, {"path": ["skip", "table"]})
    (node,) = data["assetNodes"]
    checks = node["assetChecksOrError"]["checks"]
    return {
        c["name"]: (c["executionForLatestMaterialization"]["status"], c["executionForLatestMaterialization"]["runId"])
        for c in checks
        if c["executionForLatestMaterialization"]
    }


def backfill(live) -> str:
    launched = live.graphql(LAUNCH_BACKFILL, {"path": ["skip", "daily"]})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    def status() -> str | None:
        found = live.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]
        return found if found in TERMINAL else None

    return wait_until(status, 420, f"backfill {backfill_id} to finish", interval=3)


def test_checks_read_as_before_after_a_no_op_run(live):
    """Before: the second run skipped the check steps and the catalog showed SKIPPED."""
    deployment, state = live
    deployment.launch_job("table_job")
    with deployment.instance() as instance:
        (first,) = wait_for_runs(instance, 1)
        assert check_statuses(deployment) == {
            "has_rows": ("SUCCEEDED", first.run_id),
            "rows_are_unique": (
                "SUCCEEDED",
                first.run_id,
            ),
        }
        deployment.launch_job("table_job")
        runs = wait_for_runs(instance, 2)
        assert all(run.status.value == "SUCCESS" for run in runs)
        second = next(run for run in runs if run.run_id != first.run_id)
    assert counts(state, "table") == 1 and counts(state, "has_rows") == 1, "nothing recomputed"
    assert check_statuses(deployment) == {
        "has_rows": ("SUCCEEDED", second.run_id),
        "rows_are_unique": ("SUCCEEDED", second.run_id),
    }


def test_a_no_op_backfill_ends_as_a_success(live):
    """Before: every partition unchanged -> COMPLETED_FAILED ("partitions with no
    materialization status")."""
    deployment, state = live
    assert backfill(deployment) == "COMPLETED_SUCCESS"
    assert [counts(state, f"daily-{p}") for p in ("p1", "p2", "p3")] == [1, 1, 1]
    assert backfill(deployment) == "COMPLETED_SUCCESS"
    assert [counts(state, f"daily-{p}") for p in ("p1", "p2", "p3")] == [1, 1, 1], "nothing recomputed"
