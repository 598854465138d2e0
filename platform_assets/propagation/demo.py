"""Local demo: request the original service's default run (500 steps)."""

from __future__ import annotations

import dagster as dg

from platform_assets.propagation.partitions import request_steps
from resources.settings import PlatformSettings

DEMO_STEPS = 500


def seed_demo(settings: PlatformSettings, instance: dg.DagsterInstance) -> None:
    """Add partition "500"; the automation sensor then materializes it (idempotent, no I/O)."""
    request_steps(instance, DEMO_STEPS)
