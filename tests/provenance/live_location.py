"""A real local Dagster deployment for end-to-end tests: the repo's `dagster.yaml` instance
(queued runs, the health-checked launcher, run monitoring and retries), one gRPC code
server for a given code-location file, the daemon (sensors, queued runs, backfills,
automation) and, when asked, the webserver, whose GraphQL API is what the UI reads."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import yaml

from localdev.broker import free_port
from tests.support.processes import dagster_cli, start, stop, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveLocation:
    home: Path
    workspace: Path
    env: dict[str, str]
    webserver_url: str | None = None

    def instance(self) -> dg.DagsterInstance:
        """The deployment's instance (use it as a context manager)."""
        return dg.DagsterInstance.from_config(str(self.home))

    def launch_job(self, job: str) -> None:
        """`dagster job launch`: the run is queued; the daemon starts it."""
        subprocess.run(
            [dagster_cli("dagster"), "job", "launch", "-w", str(self.workspace), "-j", job],
            env=self.env,
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
            timeout=180,
        )

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict:
        assert self.webserver_url, "started without the webserver"
        response = httpx.post(
            f"{self.webserver_url}/graphql", json={"query": query, "variables": dict(variables or {})}, timeout=120
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


def _healthy(port: int, env: dict[str, str]) -> bool:
    done = subprocess.run(
        [dagster_cli("dagster"), "api", "grpc-health-check", "-p", str(port)], env=env, capture_output=True, timeout=60
    )
    return done.returncode == 0


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/server_info", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def live_location(
    tmp_path: Path,
    location_file: Path,
    *,
    webserver: bool = False,
    instance_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[LiveLocation]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    for section, values in (instance_overrides or {}).items():
        config.setdefault(section, {}).update(values)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    environment = {**os.environ, **(env or {}), "DAGSTER_HOME": str(home)}
    # One code server shared by daemon, webserver and launch commands: on a loaded 2-core
    # machine, letting each start its own server can exceed Dagster's startup timeout.
    port = free_port()
    processes = [
        start(
            [
                dagster_cli("dagster"),
                *("api", "grpc", "-h", "127.0.0.1", "-p", str(port)),
                *("-f", str(location_file), "-d", str(REPO_ROOT)),
            ],
            environment,
            tmp_path / "code_server.log",
            REPO_ROOT,
        )
    ]
    try:
        wait_until(lambda: _healthy(port, environment), 240, "the code server to be healthy", interval=2)
        workspace = tmp_path / "workspace.yaml"
        location = {"host": "127.0.0.1", "port": port, "location_name": location_file.stem}
        workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": location}]}))
        processes.append(
            start(
                [dagster_cli("dagster-daemon"), "run", "-w", str(workspace)],
                environment,
                tmp_path / "daemon.log",
                REPO_ROOT,
            )
        )
        live = LiveLocation(home, workspace, environment)
        if webserver:
            web_port = free_port()
            processes.append(
                start(
                    [dagster_cli("dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(web_port)],
                    environment,
                    tmp_path / "webserver.log",
                    REPO_ROOT,
                )
            )
            live.webserver_url = f"http://127.0.0.1:{web_port}"
            wait_until(lambda: _answers(live.webserver_url or ""), 240, "the webserver to answer", interval=2)
        yield live
    finally:
        for process in reversed(processes):
            stop(process)
        for log in ("daemon.log", "code_server.log", "webserver.log"):
            if (tmp_path / log).exists():
                print(f"--- {log}\n" + (tmp_path / log).read_text()[-3000:])


def wait_for_runs(instance: dg.DagsterInstance, count: int, timeout: float = 300) -> list[dg.DagsterRun]:
    """The first `count` runs, once all of them finished."""

    def finished() -> list[dg.DagsterRun] | None:
        runs = list(instance.get_runs())
        return runs if len(runs) >= count and all(r.is_finished for r in runs) else None

    found = wait_until(finished, timeout, f"{count} finished runs", interval=1)
    time.sleep(0.5)  # let the last events land
    return found
