"""Blob layout of Kalman cases and their outputs (one place, used by assets, sensor, demo)."""

from __future__ import annotations

CASES_PREFIX = "kalman/cases/"
CASE_FILES = ("config.json", "prior.parquet", "observations.parquet")
OUTPUTS = ("posterior.parquet", "summary.parquet", "innovations.parquet")
OUTPUT_PREFIX_TEMPLATE = "kalman/posterior/{partition_key}"


def case_key(case: str, filename: str) -> str:
    return f"{CASES_PREFIX}{case}/{filename}"


def output_prefix(case: str) -> str:
    return OUTPUT_PREFIX_TEMPLATE.format(partition_key=case)
