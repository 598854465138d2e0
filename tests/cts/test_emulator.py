"""The emulator runs standalone (as `python -m localdev` starts it) and serves a jobs file."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from localdev.broker import free_port, wait_for_port
from localdev.cts_emulator import job_document, process_command


@pytest.mark.slow  # starts the emulator as its own process
def test_standalone_emulator_serves_the_jobs_file(tmp_path):
    jobs_file = tmp_path / "jobs.json"
    port = free_port()
    process = subprocess.Popen(
        process_command(port, "tok", jobs_file),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=30)
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(url + "/").json()["service_name"] == "CDM Task Service"
        jobs_file.write_text(json.dumps([job_document("j1", image_name="img/x")]))
        answer = httpx.get(url + "/admin/jobs/j1", headers={"Authorization": "Bearer tok"})
        assert answer.status_code == 200 and answer.json()["image"]["name"] == "img/x"
        missing = httpx.get(url + "/admin/jobs/j2", headers={"Authorization": "Bearer tok"})
        assert missing.status_code == 404 and missing.json()["error"]["appcode"] == 40040
        unauthorized = httpx.get(url + "/admin/jobs/j1")
        assert unauthorized.status_code == 401
        assert unauthorized.json()["error"]["appcode"] == 10010
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_concurrent_requests_after_the_jobs_file_changes_all_see_every_job(tmp_path):
    """Invariant: once the jobs file is written, every request sees every job in it, however
    many arrive at once (the sensor fetches 8 at a time; a half-loaded file answered 404)."""
    from concurrent.futures import ThreadPoolExecutor

    from localdev.cts_emulator import CtsEmulator

    jobs_file = tmp_path / "jobs.json"
    ids = [f"j{i}" for i in range(200)]
    with CtsEmulator(token="tok") as cts:
        cts.watch_jobs_file(jobs_file)
        jobs_file.write_text(json.dumps([job_document(i, image_name="img/x") for i in ids]))
        headers = {"Authorization": "Bearer tok"}
        with httpx.Client(base_url=cts.url, headers=headers) as client, ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda i: client.get(f"/admin/jobs/{i}").status_code, ids))
    assert statuses == [200] * len(ids)
