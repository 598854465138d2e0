"""The README's run command end to end: `python -m localdev` starts the embedded broker
and CTS emulator, seeds demo data, serves the Dagster UI with every family, and stops
everything it started on SIGTERM."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from localdev.broker import free_port
from tests.support.processes import start, stop, wait_until

pytestmark = pytest.mark.slow  # starts the whole local platform

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSET_KEYS_QUERY = "{ assetNodes { assetKey { path } } }"
IMPORT_RUNS_QUERY = """{ runsOrError(filter: {tags: [{key: "platform/importer", value: "checkm2"}]}) {
  ... on Runs { results { runId status } } } }"""


def test_localdev_serves_every_family_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS", "CTS_URL", "DAGSTER_HOME"}}
    env["PLATFORM_HOME"] = str(tmp_path / "home")
    process = start([sys.executable, "-m", "localdev", "--port", str(port)], env, tmp_path / "localdev.log", REPO_ROOT)
    url = f"http://127.0.0.1:{port}/graphql"

    def asset_paths():
        try:
            response = httpx.post(url, json={"query": ASSET_KEYS_QUERY}, timeout=10)
            nodes = response.json()["data"]["assetNodes"]
            return {tuple(n["assetKey"]["path"]) for n in nodes} or None
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            return None

    try:
        paths = wait_until(asset_paths, 240, "the Dagster UI to serve the asset graph", interval=2)
        families = {path[0] for path in paths}
        assert {"kalman", "cts", "nlp", "propagation"} <= families
        children = psutil.Process(process.pid).children(recursive=True)
        assert any("tansu" in " ".join(c.cmdline()) for c in children), "embedded Kafka broker not running"
        assert (tmp_path / "home" / "dagster" / "dagster.yaml").exists()

        # the demo CTS events on the embedded broker reach cts_job_events, which launches imports
        def import_runs():
            try:
                response = httpx.post(url, json={"query": IMPORT_RUNS_QUERY}, timeout=10)
                return response.json()["data"]["runsOrError"]["results"] or None
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                return None

        assert wait_until(import_runs, 240, "cts_job_events to launch an import from the demo events", interval=3)
    finally:
        children = psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
        stop(process, timeout=60)
        print((tmp_path / "localdev.log").read_text()[-3000:])
    time.sleep(1)
    leftovers = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not leftovers, f"still running after stop: {[c.cmdline()[:3] for c in leftovers]}"
