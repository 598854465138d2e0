"""NLP fixtures: the goals database on SQLite AND on a real PostgreSQL, a real Dagster instance."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def goals_db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/goals.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def goals_engine(goals_db_url):
    from platform_assets.nlp.schema import create_output_tables, create_source_tables

    engine = sa.create_engine(goals_db_url)
    create_source_tables(engine)
    create_output_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst
