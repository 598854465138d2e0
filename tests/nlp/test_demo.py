"""Demo seeding is idempotent and registers one partition per recipient."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from platform_assets.nlp.demo import seed_demo
from platform_assets.nlp.schema import goals
from resources.settings import settings


def test_seed_demo_is_idempotent(tmp_path, instance):
    demo_settings = dataclasses.replace(settings(), home=tmp_path, goals_database_url=f"sqlite:///{tmp_path}/goals.db")
    seed_demo(demo_settings, instance)
    engine = sa.create_engine(demo_settings.goals_database_url)
    with engine.connect() as conn:
        first = conn.execute(sa.select(sa.func.count()).select_from(goals)).scalar_one()
    seed_demo(demo_settings, instance)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(goals)).scalar_one() == first > 800
    assert len(instance.get_dynamic_partitions("nlp_recipients")) == 5
    engine.dispose()
