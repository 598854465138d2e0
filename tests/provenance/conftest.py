"""Provenance fixtures: `demo_world`, the real code location's local defaults seeded with
`make dev`'s demo data (every family's `seed_demo`) and a CTS emulator serving the demo jobs."""

from __future__ import annotations

import dagster as dg
import pytest


@pytest.fixture
def demo_world(tmp_path, monkeypatch, cts_emulator):
    """A real instance; PLATFORM_HOME, blob storage, lake and goals database in a fresh
    folder; resources from the families' own factories (`all_resources()`)."""
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CTS_URL", cts_emulator.url)
    monkeypatch.setenv("CTS_ADMIN_TOKEN", cts_emulator.token)
    from platform_assets.cts.demo import jobs_file
    from platform_assets.families import discover_families
    from resources.settings import settings

    with dg.instance_for_test() as instance:
        for family in discover_families():
            if family.demo_seeder is not None:
                family.demo_seeder(settings(), instance)
        cts_emulator.load_jobs_file(jobs_file(settings()))
        yield instance


def all_resources() -> dict:
    """Every resource of the code location, from the families' factories."""
    from resources.cts import cts_resources
    from resources.nlp import nlp_resources
    from resources.propagation import propagation_resources
    from resources.shared import shared_resources

    return {**shared_resources(), **cts_resources(), **nlp_resources(), **propagation_resources()}
