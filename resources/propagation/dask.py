"""Dask resource (key ``dask``): an existing scheduler in k8s, an in-process LocalCluster locally.

The client and cluster are made by dagster-dask's own ``DaskResource`` (the same client and
cluster configuration as ``dagster_dask.dask_resource``), wrapped in a
``ConfigurableResource`` for two reasons: the address comes from ``DASK_SCHEDULER_ADDRESS``
through ``EnvVar``, and nothing is created (or imported: ``dagster_dask`` imports
``distributed`` at module load) until an asset asks for the client, so loading the code
location stays fast and a step the provenance core skips never starts a cluster.
``dagster_dask.dask_executor`` distributes *ops* across a cluster; here one asset
distributes its own *chunks*, so a client is what it needs. Both are closed at teardown.
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

    _client: Any = PrivateAttr(default=None)  # dagster_dask.resources.DaskResource

    def get_client(self) -> Client:
        """The client, created on first call (import of ``distributed`` happens here)."""
        if self._client is None:
            from dagster_dask.resources import DaskResource as DagsterDaskResource

            if self.scheduler_address:
                config: dict[str, Any] = {"client": {"address": self.scheduler_address}}
            else:
                # thread workers talk in-process (inproc://); process workers over 127.0.0.1 only
                network = {"host": "127.0.0.1"} if self.processes else {}
                config = {
                    "cluster": {
                        "local": {
                            "n_workers": self.n_workers,
                            "threads_per_worker": self.threads_per_worker,
                            "processes": self.processes,
                            "dashboard_address": None,
                            **network,
                        }
                    }
                }
            self._client = DagsterDaskResource(dg.build_init_resource_context(config=config))
        return self._client.client

    @property
    def describe(self) -> str:
        """Where chunks run, for metadata (no credentials: the address is a host:port)."""
        if self.scheduler_address:
            return f"dask scheduler {self.scheduler_address}"
        kind = "processes" if self.processes else "threads"
        return f"dask LocalCluster {self.n_workers} workers ({kind})"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()  # closes the client and the LocalCluster it made
            self._client = None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()
