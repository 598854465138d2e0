"""Step-count partitions: asking for N propagation steps adds the dynamic partition "N".

This replaces the original's Redis cache keyed by iteration count: each partition is one
cached result, and the provenance core skips a partition that is already up to date.
"""

from __future__ import annotations

import re

import dagster as dg

from platform_assets.propagation.model import PropagationInputError

DEFAULT_MAX_STEPS = 100_000

PROPAGATION_STEPS = "propagation_steps"
propagation_steps = dg.DynamicPartitionsDefinition(name=PROPAGATION_STEPS)

_CANONICAL_INT = re.compile(r"[1-9][0-9]*")


def parse_steps(key: str | int, max_steps: int = DEFAULT_MAX_STEPS) -> int:
    """Partition key -> step count; rejects anything but a canonical positive integer <= max_steps."""
    text = str(key)
    if isinstance(key, bool) or not _CANONICAL_INT.fullmatch(text):
        raise PropagationInputError(
            f"step count must be a positive integer written without sign or leading zeros, got {key!r}"
        )
    steps = int(text)
    if steps > max_steps:
        raise PropagationInputError(f"step count {steps} exceeds the configured maximum of {max_steps}")
    return steps


def request_steps(instance: dg.DagsterInstance, steps: str | int, max_steps: int = DEFAULT_MAX_STEPS) -> str:
    """Validate a request for N steps and add partition N (idempotent); returns the key."""
    key = str(parse_steps(steps, max_steps))
    if not instance.has_dynamic_partition(PROPAGATION_STEPS, key):
        instance.add_dynamic_partitions(PROPAGATION_STEPS, [key])
    return key


def existing_steps(instance: dg.DagsterInstance) -> list[int]:
    """Step counts of the valid partitions that exist, ascending (invalid keys are ignored)."""
    found = []
    for key in instance.get_dynamic_partitions(PROPAGATION_STEPS):
        if _CANONICAL_INT.fullmatch(key):
            found.append(int(key))
    return sorted(found)
