"""Real services for tests, independent of pytest: a Tansu Kafka broker, a moto S3
server and the CTS emulator, each on 127.0.0.1 and a free port, each stopped on exit.

Nothing here touches ``os.environ``: callers get endpoints and credentials as values
and pass them explicitly (resources, ``monkeypatch.setenv``), so tests stay isolated.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from localdev.broker import TansuBroker, free_port, wait_for_port
from localdev.cts_emulator import CtsEmulator
from localdev.processes import stop_process_group

MOTO_ACCESS_KEY = "testing"
MOTO_SECRET_KEY = "testing"
MOTO_REGION = "us-east-1"


@dataclass(frozen=True)
class S3Endpoint:
    """A running S3-compatible endpoint plus the credentials it accepts."""

    endpoint_url: str
    access_key: str = MOTO_ACCESS_KEY
    secret_key: str = MOTO_SECRET_KEY
    region: str = MOTO_REGION

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create (and return) a bucket; a fresh unique name by default."""
        name = name or f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self) -> dict[str, str]:
        """The environment variables the platform reads to reach this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ALLOW_HTTP": "true",
        }

    def storage_options(self) -> dict[str, str]:
        """deltalake (object_store) options for this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_ALLOW_HTTP": "true",
        }


@contextlib.contextmanager
def s3_server() -> Iterator[S3Endpoint]:
    """A moto S3 server on 127.0.0.1 and a free port, in its own process.

    A separate process (not moto's ``ThreadedMotoServer``) because deltalake's native
    calls hold the GIL while they wait for the server: an in-process server deadlocks.
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, timeout=30)
        yield S3Endpoint(endpoint_url=f"http://127.0.0.1:{port}")
    finally:
        stop_process_group(process, timeout=10)


@contextlib.contextmanager
def kafka_broker() -> Iterator[TansuBroker]:
    """A Tansu broker (memory storage) on a free port; ``.restart()`` keeps the port."""
    with TansuBroker() as broker:
        yield broker


@contextlib.contextmanager
def cts_emulator(token: str = "test-admin-token") -> Iterator[CtsEmulator]:
    """The CTS emulator on a free port, with admin ``token``."""
    with CtsEmulator(token=token) as emulator:
        yield emulator
