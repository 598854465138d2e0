"""Asset check: the nominal trajectory conserves energy to within a configurable bound.

It recomputes the energy from the published arrays (not from the asset's own metadata),
so a broken writer or a too-large dt is caught by an independent reading.
"""

import dagster as dg
from pydantic import Field

from platform_assets.propagation.assets import TRAJECTORY_KEY
from platform_assets.propagation.ensemble import RunState
from platform_assets.propagation.model import relative_energy_drift, total_energy
from platform_assets.propagation.partitions import propagation_steps
from platform_assets.propagation.resume import STATE_FILE, latest_materialization
from platform_assets.provenance import versioned_check
from resources.shared.blob import BlobStorage


class EnergyDriftConfig(dg.Config):
    max_relative_drift: float = Field(
        default=1e-3, description="Upper bound of max_t |E(t) - E(0)| / |E(0)| of the nominal trajectory."
    )


@versioned_check(
    asset=TRAJECTORY_KEY,
    name="energy_drift",
    partitions_def=propagation_steps,
    description="Relative energy drift of the nominal trajectory below a bound.",
)
def energy_drift(
    context: dg.AssetCheckExecutionContext, config: EnergyDriftConfig, blob: BlobStorage
) -> dg.AssetCheckResult:
    partition = context.partition_key
    materialization = latest_materialization(context.instance, TRAJECTORY_KEY, partition)
    if materialization is None:
        return dg.AssetCheckResult(passed=False, metadata={"error": f"partition {partition} not materialized"})
    prefix = materialization.metadata["blob_prefix"].value
    run = RunState.from_npz(blob.read_bytes(f"{prefix}/{STATE_FILE}"))
    drift = relative_energy_drift(total_energy(run.nominal_positions, run.nominal_velocities, run.masses))
    return dg.AssetCheckResult(
        passed=bool(drift <= config.max_relative_drift),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"relative_energy_drift": drift, "bound": config.max_relative_drift, "steps": int(partition)},
    )
