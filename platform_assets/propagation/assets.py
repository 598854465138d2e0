"""`propagation/trajectory`: an ensemble propagation per requested step count.

One partition per step count N (see partitions.py). The provenance core skips a
partition that is up to date; otherwise the asset resumes from the largest finished
partition M < N with the same code version and config (or starts from zero), runs the
ensemble in chunks on Dask, and publishes atomically to blob storage:

    propagation/trajectory/<run id>/<N>/_v/<version>/
        records.parquet   nominal trajectory as [t_low, t_high, state] records
        moments.parquet   per-step ensemble mean and covariance
        data.json         the original web view's data (its latest layout, or the flat one)
        plot.png          orbit (nominal and ensemble mean) and energy drift
        state.npz         arrays to resume from (see ensemble.RunState)

The materialization shows an orbit sketch inline (metadata ``plot``; see plots.py).
"""

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from platform_assets.pictures import figure_png
from platform_assets.propagation import plots, records
from platform_assets.propagation.ensemble import (
    DASK_MIN_SECONDS,
    DEFAULT_CHUNK_SIZE,
    EnsembleSpec,
    RunState,
    estimated_seconds,
    propagate_ensemble,
)
from platform_assets.propagation.model import (
    PropagationInputError,
    checked_kernel,
    checked_method,
    relative_energy_error,
    system_bodies,
    total_energy,
    validate_step,
)
from platform_assets.propagation.partitions import DEFAULT_MAX_STEPS, parse_steps, propagation_steps
from platform_assets.propagation.records import DATA_JSON_LAYOUTS
from platform_assets.propagation.resume import STATE_FILE, ResumePoint, find_resume_point
from platform_assets.provenance import config_version, versioned_asset
from resources.lazy_imports import lazy_import
from resources.propagation.dask import DaskResource
from resources.shared.blob import BlobStorage, local_scratch_dir, remove_dir

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")

TRAJECTORY_KEY = dg.AssetKey(["propagation", "trajectory"])
PLOT_POINTS = 4000


# Fields that change how, not what, is computed: left out of the provenance, so asking
# again for an existing N with only these changed computes nothing, and resume matches
# runs regardless of them. chunk_size is NOT one of them: the chunks' moments are merged
# in chunk order, so another chunking changes the last bits of the mean and covariance.
EXECUTION_ONLY_CONFIG = ["max_steps", "use_dask", "dask_min_seconds"]


class PropagationConfig(dg.Config):
    """Run parameters. All but EXECUTION_ONLY_CONFIG decide the numbers (config version)."""

    system: str = Field(
        default="planet_satellite",
        description=(
            "Initial system: 'planet_satellite' (the original service's first default: Planet and "
            "Satellite) or 'body1_body2' (its latest default: Body1 m=1 at (-0.73, 0, 0), Body2 m=0.0123 "
            "at (60.34, 0, 0))."
        ),
    )
    max_steps: int = Field(default=DEFAULT_MAX_STEPS, description="Largest step count accepted.")
    dt: float = Field(default=0.01, description="Fixed time step (G = 1 units).")
    method: str = Field(default="verlet", description="'verlet' (symplectic) or 'rk4'.")
    ensemble_size: int = Field(default=256, description="Perturbed members K.")
    position_sigma: float = Field(default=1e-3, description="Std dev of position perturbations.")
    velocity_sigma: float = Field(default=1e-3, description="Std dev of velocity perturbations.")
    seed: int = Field(default=0, description="Seed of the perturbations.")
    chunk_size: int = Field(
        default=DEFAULT_CHUNK_SIZE,
        description="Members per chunk, the leaves of the merge tree (the merge order: part of the result).",
    )
    kernel: str = Field(
        default="numba",
        description=(
            "'numba' (compiled, fused with the moments) or 'numpy' (the reference). Same trajectories bit "
            "for bit; the moments differ in their last bits, so the kernel is part of the result."
        ),
    )
    data_json_layout: str = Field(
        default="web",
        description=(
            "data.json frames: 'web' = the original's latest web view, {agent: {position: {x, y, z}, "
            "velocity: {x, y, z}, mass, time, timeStep}}; 'flat' = its first one, {agent: {x, y, z, vx, vy, vz, "
            "time, timeStep}}."
        ),
    )
    use_dask: bool = Field(
        default=True,
        description="Run chunks on the `dask` resource when the estimated compute reaches `dask_min_seconds`.",
    )
    dask_min_seconds: float = Field(
        default=DASK_MIN_SECONDS,
        description=(
            "Estimated single-core compute below which a run stays in-process: a cluster's start-up and "
            "task overhead cost more than they save (the crossover, bench/bench_propagation.py). 0: always Dask."
        ),
    )

    def ensemble_spec(self) -> EnsembleSpec:
        return EnsembleSpec(self.ensemble_size, self.position_sigma, self.velocity_sigma, self.seed, self.chunk_size)


def run_prefix(code_version: str, config: str | None, steps: int) -> str:
    run_id = hashlib.sha256(f"{code_version}:{config}".encode()).hexdigest()[:16]
    return f"propagation/trajectory/{run_id}/{steps}"


def _load_resume_state(
    context: dg.AssetExecutionContext, blob: BlobStorage, point: ResumePoint | None
) -> RunState | None:
    if point is None:
        return None
    key = f"{point.blob_prefix}/{STATE_FILE}"
    if not blob.exists(key):
        context.log.warning(f"partition {point.steps} matches but {blob.url_of(key)} is gone: starting from zero")
        return None
    return RunState.from_npz(blob.read_bytes(key))


def _publish(
    blob: BlobStorage, prefix: str, names: tuple[str, ...], dt: float, run: RunState, layout: str, plot_png: bytes
) -> tuple[str, int]:
    """Write the outputs to a scratch dir and publish them atomically; returns (prefix, records bytes)."""
    trajectory = records.trajectory_records(names, dt, run.nominal_positions, run.nominal_velocities)
    outputs = {
        "records.parquet": records.to_parquet_bytes(trajectory),
        "moments.parquet": records.to_parquet_bytes(records.moments_table(names, dt, run.mean, run.covariance)),
        "data.json": records.data_json(
            names, run.masses, dt, run.nominal_positions, run.nominal_velocities, layout
        ).encode(),
        "plot.png": plot_png,
        STATE_FILE: run.to_npz(),
    }
    scratch = local_scratch_dir("propagation-")
    try:
        for name, data in outputs.items():
            Path(scratch, name).write_bytes(data)
        return blob.publish_dir(scratch, prefix), len(outputs["records.parquet"])
    finally:
        remove_dir(scratch)


def published_state_missing(resources, materialization: dg.AssetMaterialization) -> str | None:
    """The recorded output (and the resume state) of a partition is still published."""
    prefix = materialization.metadata.get("blob_prefix")
    key = f"{getattr(prefix, 'value', prefix)}/{STATE_FILE}"
    return None if prefix is not None and resources.blob.exists(key) else f"{key} is gone"


def _plot_png(names: tuple[str, ...], dt: float, run: RunState, relative_error: "np.ndarray") -> bytes:
    stride = max(1, len(relative_error) // PLOT_POINTS)
    rows = slice(None, None, stride)
    figure = plots.orbit_figure(
        names,
        np.arange(len(relative_error))[rows] * dt,
        run.nominal_positions[rows],
        run.mean[rows],
        relative_error[rows],
    )
    return figure_png(figure)


def _executor(dask: DaskResource, used: bool, config: PropagationConfig, seconds: float) -> str:
    if used:
        return dask.describe
    if not config.use_dask:
        return "in-process (use_dask: false)"
    return f"in-process (estimated {seconds:.2g} s of compute, below dask_min_seconds = {config.dask_min_seconds:g})"


@versioned_asset(
    key=TRAJECTORY_KEY,
    image="propagation",
    k8s_resources={"cpu": "1", "memory": "2Gi"},
    packages=["numpy", "numba", "pyarrow"],
    execution_only_config=EXECUTION_ONLY_CONFIG,
    output_missing=published_state_missing,
    partitions_def=propagation_steps,
    group_name="propagation",
    kinds={"python", "dask", "parquet"},
    description="Nominal trajectory + ensemble mean/covariance for N steps (partition N).",
)
def trajectory(
    context: dg.AssetExecutionContext, config: PropagationConfig, blob: BlobStorage, dask: DaskResource
) -> dg.MaterializeResult:
    """Propagate N steps, resuming from a finished M < N when code and config match."""
    steps = parse_steps(context.partition_key, config.max_steps)
    validate_step(config.dt, steps)
    method = checked_method(config.method)
    kernel = checked_kernel(config.kernel)
    spec = config.ensemble_spec()
    bodies = system_bodies(config.system)
    if config.data_json_layout not in DATA_JSON_LAYOUTS:
        raise PropagationInputError(
            f"unknown data_json_layout {config.data_json_layout!r}; choose one of {DATA_JSON_LAYOUTS}"
        )
    code_version = context.assets_def.code_versions_by_key[context.asset_key]
    result_config = config_version(context)  # as the core records it (platform/config_version)

    point = find_resume_point(context.instance, context.asset_key, steps, code_version, result_config)
    start = _load_resume_state(context, blob, point)
    first_step = start.steps if start is not None else 0
    context.log.info(f"resuming from partition {first_step}" if start is not None else "starting from step 0")
    seconds = estimated_seconds(spec.size, steps - first_step, bodies.n_bodies, method, kernel)
    client = dask.get_client() if config.use_dask and seconds >= config.dask_min_seconds else None
    run = propagate_ensemble(bodies, spec, config.dt, steps - first_step, method, client, start, kernel)

    relative_error = relative_energy_error(total_energy(run.nominal_positions, run.nominal_velocities, bodies.masses))
    published, records_bytes = _publish(
        blob,
        run_prefix(code_version, result_config, steps),
        bodies.names,
        config.dt,
        run,
        config.data_json_layout,
        _plot_png(bodies.names, config.dt, run, relative_error),
    )
    return dg.MaterializeResult(
        metadata={
            "steps": steps,
            "resumed_from_steps": first_step,
            "resume": (
                f"resumed from partition {first_step}; computed steps {first_step + 1}..{steps}"
                if start is not None
                else f"started from zero; computed steps 1..{steps}"
            ),
            "computed_steps": steps - first_step,
            "config": dg.MetadataValue.json(config.model_dump()),
            "blob_prefix": published,
            "records_url": dg.MetadataValue.url(blob.url_of(f"{published}/records.parquet")),
            "data_json_url": dg.MetadataValue.url(blob.url_of(f"{published}/data.json")),
            "system": config.system,
            "records_bytes": records_bytes,
            "ensemble_size": spec.size,
            "executor": _executor(dask, client is not None, config, seconds),
            "kernel": kernel,
            "relative_energy_drift": float(relative_error.max()),
            "final_state": dg.MetadataValue.json(
                {name: run.nominal_positions[-1, b].tolist() for b, name in enumerate(bodies.names)}
            ),
            "plot": plots.orbit_sketch_markdown(
                bodies.names,
                run.nominal_positions,
                note=" — full figure with ensemble means and energy drift: plot_url",
            ),
            "plot_url": dg.MetadataValue.url(blob.url_of(f"{published}/plot.png")),
        }
    )
