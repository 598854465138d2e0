"""The propagation family: the trajectory asset, its energy check, the `dask` resource,
and `request_propagation_steps`, a job that asks for N steps.

Asking for N steps adds dynamic partition N (the job below, the UI's "add partition"
dialog, or `partitions.request_steps`); the platform automation condition requests a
missing partition as soon as it appears, so the run follows without further action.
"""

import dagster as dg
from pydantic import Field

from platform_assets.propagation.assets import trajectory
from platform_assets.propagation.checks import energy_drift
from platform_assets.propagation.partitions import DEFAULT_MAX_STEPS, request_steps
from resources.propagation import propagation_resources


class StepRequest(dg.Config):
    steps: int = Field(description="Number of propagation steps N (adds partition N).")
    max_steps: int = Field(default=DEFAULT_MAX_STEPS, description="Largest step count accepted.")


@dg.op(description="Validate N and add partition N; automation then materializes it.")
def add_step_partition(context: dg.OpExecutionContext, config: StepRequest) -> str:
    key = request_steps(context.instance, config.steps, config.max_steps)
    context.log.info(f"requested propagation/trajectory partition {key}")
    return key


@dg.job(description="Ask for N propagation steps: run with config ops.add_step_partition.config.steps = N.")
def request_propagation_steps():
    add_step_partition()


defs = dg.Definitions(
    assets=[trajectory],
    asset_checks=[energy_drift],
    jobs=[request_propagation_steps],
    resources=propagation_resources(),
)
