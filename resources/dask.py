"""Dask resource (key ``dask``): an existing scheduler in k8s, an in-process LocalCluster locally.

Why not ``dagster_dask.dask_resource``: it is a legacy ``@resource`` that builds the client
eagerly when the step starts (even when the provenance core then skips the computation),
its config has no ``EnvVar`` support, and importing ``dagster_dask`` imports
``distributed`` at module load, which would slow down loading the code location.
``dagster_dask.dask_executor`` distributes *ops* across a cluster; here one asset
distributes its own *chunks*, so a client is what it needs. This resource creates the
client (and the LocalCluster, if any) on first use and closes both at teardown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field, PrivateAttr

if TYPE_CHECKING:
    from distributed import Client


class DaskResource(dg.ConfigurableResource):
    """Dask client: ``scheduler_address`` (``DASK_SCHEDULER_ADDRESS``) or a LocalCluster."""

    scheduler_address: str | None = Field(
        default=None, description="Existing scheduler, e.g. tcp://dask-scheduler:8786; unset: LocalCluster."
    )
    n_workers: int = Field(default=2, description="LocalCluster workers.")
    processes: bool = Field(
        default=False,
        description=(
            "LocalCluster workers as processes (True) or threads (False). Threads by default: "
            "process workers take seconds to start, more than a typical run computes "
            "(bench/bench_propagation.py)."
        ),
    )
    threads_per_worker: int = Field(default=1, description="LocalCluster threads per worker.")

    _client: Any = PrivateAttr(default=None)
    _cluster: Any = PrivateAttr(default=None)

    def get_client(self) -> Client:
        """The client, created on first call (import of ``distributed`` happens here)."""
        if self._client is None:
            from distributed import Client, LocalCluster

            if self.scheduler_address:
                self._client = Client(self.scheduler_address)
            else:
                # thread workers talk in-process (inproc://); process workers over 127.0.0.1 only
                network = {"host": "127.0.0.1"} if self.processes else {}
                self._cluster = LocalCluster(
                    n_workers=self.n_workers,
                    threads_per_worker=self.threads_per_worker,
                    processes=self.processes,
                    dashboard_address=None,
                    **network,
                )
                self._client = Client(self._cluster)
        return self._client

    @property
    def describe(self) -> str:
        """Where chunks run, for metadata (no credentials: the address is a host:port)."""
        if self.scheduler_address:
            return f"dask scheduler {self.scheduler_address}"
        kind = "processes" if self.processes else "threads"
        return f"dask LocalCluster {self.n_workers} workers ({kind})"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()
