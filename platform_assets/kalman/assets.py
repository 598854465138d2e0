"""Kalman assets: the case inputs (external, versioned by the sensor) and the posterior,
computed by the external `kalman-enkf` program through the generic command asset."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from platform_assets.command import command_asset, program_digest
from platform_assets.families import family_owners
from platform_assets.kalman.cases import CASE_FILES, OUTPUT_PREFIX_TEMPLATE, OUTPUTS, case_key
from platform_assets.kalman.partitions import kalman_cases
from platform_assets.kalman.pictures import describe_posterior

case_inputs = dg.AssetSpec(
    key=["kalman", "case_inputs"],
    partitions_def=kalman_cases,
    group_name="kalman",
    owners=family_owners(["kalman"]),
    kinds={"parquet", "s3"},
    description=(
        "A case folder in blob storage (config.json, prior.parquet, observations.parquet). "
        "Materialized by kalman_case_sensor with the hash of the three ETags as data version."
    ),
)


KALMAN_PROGRAM_DIR = Path(__file__).resolve().parents[2] / "programs" / "kalman"


def kalman_program_digest() -> str:
    """Hash of the program's source tree in this repo (also copied into the code-location
    image), so local and k8s agree; on k8s the program image digest counts as well."""
    return program_digest(KALMAN_PROGRAM_DIR)


def code_version_automation() -> dg.AutomationCondition:
    """Automation for the posterior: only a new code version (program hash, image digest,
    command template) requests partitions, once per change and never while one is running.

    New and changed cases are requested by `kalman_case_sensor` alone (with the per-case run
    tag `platform/kalman_case`), so the platform default (missing / upstream data version
    changed) would request the same partition a second time, possibly concurrently."""
    condition = dg.AutomationCondition
    code_changed: dg.AutomationCondition = condition.code_version_changed()
    return (code_changed.since_last_handled() & ~condition.in_progress()).with_label("code version changed")


def posterior_asset(program: str | None = None) -> dg.AssetsDefinition:
    """The posterior asset; ``program`` overrides the program hash (tests, pinned releases)."""
    return command_asset(
        key=["kalman", "posterior"],
        image="kalman",
        command=["kalman-enkf", "iterate", "--config-file", "{inputs[config]}", "--output-dir", "{out}"],
        inputs={name.split(".")[0]: case_key("{partition_key}", name) for name in CASE_FILES},
        outputs=OUTPUTS,
        output_prefix=OUTPUT_PREFIX_TEMPLATE,
        program=program or kalman_program_digest(),
        k8s_resources={"cpu": "1", "memory": "2Gi"},
        partitions_def=kalman_cases,
        deps=[case_inputs],
        automation_condition=code_version_automation(),
        describe=describe_posterior,
        group_name="kalman",
        description=(
            "Posterior ensemble, per-variable summary and innovation statistics of a stochastic "
            "EnKF/ES-MDA analysis. Random output, computed once per (inputs, program, image)."
        ),
    )


posterior = posterior_asset()
