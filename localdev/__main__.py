"""`python -m localdev`: the platform on a laptop, on embedded defaults.

Starts the embedded Kafka broker (Tansu) and the CTS emulator on 127.0.0.1, seeds every
family's demo data, then runs `dagster dev -w workspace.yaml` with the local instance
(`dagster.yaml` -> `$PLATFORM_HOME/dagster`). Ctrl-C (or SIGTERM) stops dagster and then
the services, by PID.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from localdev.broker import TansuBroker, free_port, wait_for_port
from localdev.cts_emulator import process_command
from localdev.processes import interruptible_process_group, stop_process_group
from resources.settings import raw

REPO_ROOT = Path(__file__).resolve().parents[1]


def port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def prepare_instance(home: Path) -> Path:
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def start_cts_emulator(home: Path) -> subprocess.Popen:
    from resources.settings import LOCAL_CTS_TOKEN

    port = 8085 if port_is_free(8085) else free_port()
    os.environ.setdefault("CTS_URL", f"http://127.0.0.1:{port}")
    os.environ.setdefault("CTS_ADMIN_TOKEN", LOCAL_CTS_TOKEN)
    process = subprocess.Popen(
        process_command(port, os.environ["CTS_ADMIN_TOKEN"], home / "cts" / "jobs.json"),
        stdout=open(home / "cts-emulator.log", "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port(port)
    return process


def seed_demo_data() -> None:
    import dagster as dg

    from platform_assets.families import discover_families
    from resources.settings import settings

    with dg.DagsterInstance.get() as instance:
        for family in discover_families():
            seed = family.demo_seeder
            if seed is None:
                continue
            started = time.monotonic()
            seed(settings(), instance)
            print(f"[localdev] seeded {family.name} demo data in {time.monotonic() - started:.1f}s", flush=True)


def publish_demo_cts_events(home: Path) -> int:
    """Announce the demo CTS jobs on the embedded broker as the CTS would (one `complete`
    event per job), so `cts_job_events` imports them: the event-driven path, end to end.
    Deterministic trans_ids: a restart re-publishes (Tansu keeps nothing) without new runs."""
    import json

    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from resources.settings import settings

    jobs_file = home / "cts" / "jobs.json"
    if not jobs_file.exists():
        return 0
    current = settings()
    admin = AdminClient({"bootstrap.servers": current.kafka_bootstrap_servers})
    topics = [NewTopic(current.cts_jobs_topic, 3, 1), NewTopic(current.cts_jobs_dlq_topic, 1, 1)]
    for future in admin.create_topics(topics).values():
        try:
            future.result(timeout=10)
        except Exception:  # already exists
            pass
    producer = Producer({"bootstrap.servers": current.kafka_bootstrap_servers, "acks": "all"})
    jobs = json.loads(jobs_file.read_text())
    for job in jobs:
        for transition in job.get("transition_times", []):
            event = {
                "job_id": job["id"],
                "state": transition["state"],
                "time": transition["time"],
                "trans_id": transition["trans_id"],
            }
            producer.produce(current.cts_jobs_topic, json.dumps(event).encode())
    if producer.flush(15):
        raise RuntimeError("the embedded broker did not acknowledge the demo CTS events")
    return len(jobs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--seed-only", action="store_true", help="seed demo data and exit")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="of the Dagster services (daemon, webserver); runs always log at INFO. The daemons' "
        "INFO lines (every sensor tick, every monitoring poll) are what the UI shows anyway.",
    )
    args = parser.parse_args()

    home = Path(raw("PLATFORM_HOME") or REPO_ROOT / ".platform").resolve()
    os.environ["PLATFORM_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    dagster_home = prepare_instance(home)

    broker = None
    if raw("KAFKA_BOOTSTRAP_SERVERS") is None:
        broker = TansuBroker(port=9092 if port_is_free(9092) else None, log_path=home / "tansu.log")
        broker.start()
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
        print(f"[localdev] Kafka (Tansu) on {broker.bootstrap_servers}", flush=True)
    emulator = start_cts_emulator(home) if raw("CTS_URL") is None else None
    if emulator:
        print(f"[localdev] CTS emulator on {os.environ['CTS_URL']}", flush=True)
    dagster = None
    try:
        seed_demo_data()
        if broker is not None:
            count = publish_demo_cts_events(home)
            print(f"[localdev] published CTS job events for {count} demo jobs", flush=True)
        if args.seed_only:
            return 0
        # a child started from a non-interactive shell ignores SIGINT unless reset
        dagster = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dagster")),
                "dev",
                "-w",
                str(REPO_ROOT / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(args.port),
                "--log-level",
                args.log_level,
            ],
            # started in the instance's folder: from the repo root, `dagster dev` would warn at
            # every start that the repo's dagster.yaml (the template copied there) is ignored
            cwd=dagster_home,
            preexec_fn=interruptible_process_group,
        )
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        print(f"[localdev] Dagster UI on http://127.0.0.1:{args.port}", flush=True)
        return dagster.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_process_group(dagster, timeout=15)
        stop_process_group(emulator, timeout=15)
        if broker:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
