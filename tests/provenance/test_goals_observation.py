"""`nlp/goals` is observed when the code location starts and whenever the goals database
changes (issue 11, item 4): the observation sensor evaluated tick by tick on a real
instance and a real (SQLite) goals database, its events applied as the daemon applies them."""

from __future__ import annotations

import json

import dagster as dg
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from platform_assets.nlp.assets import GOALS_KEY, recipient_goal_versions
from platform_assets.nlp.demo import insert_corpus
from platform_assets.nlp.partitions import RECIPIENT_PARTITIONS
from platform_assets.nlp.schema import create_output_tables, create_source_tables, goals
from platform_assets.nlp.synthetic import synthetic_corpus
from platform_assets.provenance.skip import current_data_version
from resources.nlp.goals_db import GoalsDatabase
from sensors.nlp.goals_observation import nlp_goals_observation

pytestmark = pytest.mark.slow  # whole Dagster runs on a real instance: seconds per test


class World:
    """A goals database and an instance; `tick()` evaluates the sensor like the daemon."""

    def __init__(self, url: str, instance: dg.DagsterInstance, recipients: int = 4) -> None:
        self.engine = sa.create_engine(url)
        create_source_tables(self.engine)
        create_output_tables(self.engine)
        with self.engine.begin() as conn:
            insert_corpus(conn, synthetic_corpus(8 * recipients, recipients, seed=5))
        self.instance = instance
        self.goals_db = GoalsDatabase(url=url)
        self.cursor: str | None = None

    def tick(self, cursor: str | None = None) -> set[str]:
        """Observed recipient partitions of one tick (events applied to the instance)."""
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=cursor if cursor is not None else self.cursor,
            resources={"goals_db": self.goals_db},
        ) as context:
            result = nlp_goals_observation(context)
        assert isinstance(result, dg.SensorResult)
        for event in result.asset_events:
            self.instance.report_runless_asset_event(event)
        self.cursor = result.cursor
        return {str(event.partition) for event in result.asset_events}

    def rename(self, goal_id: int, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(goals).where(goals.c.id == goal_id).values(name=name))

    def recipient_of(self, goal_id: int) -> str:
        with self.engine.connect() as conn:
            grant = conn.execute(sa.select(goals.c.grantId).where(goals.c.id == goal_id)).scalar_one()
            return str(conn.execute(sa.text('select "recipientId" from "Grants" where id = :g'), {"g": grant}).scalar())

    def observed(self) -> dict[str, str]:
        partitions = self.instance.get_dynamic_partitions(RECIPIENT_PARTITIONS)
        return {key: current_data_version(self.instance, GOALS_KEY, key) for key in partitions}


def test_first_tick_after_start_observes_every_recipient(tmp_path):
    """Before: nlp/goals read "Never observed" until the 05:00 schedule."""
    with dg.instance_for_test() as instance:
        world = World(f"sqlite:///{tmp_path}/goals.db", instance)
        truth = recipient_goal_versions(world.goals_db)
        assert world.tick() == set(truth)
        assert world.observed() == truth
        assert world.tick() == set(), "unchanged database: nothing new to observe"


def test_a_restarted_code_location_observes_everything_again(tmp_path):
    with dg.instance_for_test() as instance:
        world = World(f"sqlite:///{tmp_path}/goals.db", instance)
        world.tick()
        written_by_another_process = json.dumps({**json.loads(world.cursor or "{}"), "start": "an earlier process"})
        assert world.tick(cursor=written_by_another_process) == set(recipient_goal_versions(world.goals_db))


def test_a_database_change_is_observed_for_exactly_its_recipient(tmp_path):
    with dg.instance_for_test() as instance:
        world = World(f"sqlite:///{tmp_path}/goals.db", instance)
        world.tick()
        world.rename(3, "A completely new goal about family engagement and literacy")
        assert world.tick() == {world.recipient_of(3)}
        assert world.observed() == recipient_goal_versions(world.goals_db)


@settings(max_examples=12, derandomize=True, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(1, 24), st.sampled_from(["", "  ", "Reading readiness", "x"])), max_size=6))
def test_observations_always_match_the_database(tmp_path_factory, edits):
    """Invariant: after every tick, each recipient's observed data version equals the hash
    of its eligible goals in the database, and a tick observes exactly the recipients whose
    version changed since the previous tick (blank names included: they drop a goal)."""
    tmp_path = tmp_path_factory.mktemp("goals")
    with dg.instance_for_test() as instance:
        world = World(f"sqlite:///{tmp_path}/goals.db", instance, recipients=3)
        world.tick()
        for goal_id, name in edits:
            before = recipient_goal_versions(world.goals_db)
            world.rename(goal_id, name)
            after = recipient_goal_versions(world.goals_db)
            assert world.tick() == {key for key in after if before.get(key) != after[key]}
            assert world.observed() == after


@pytest.mark.slow
def test_the_real_code_location_observes_goals_when_it_starts(tmp_path):
    """The whole code location on a real daemon: without any schedule tick or run, nlp/goals
    is observed for every recipient of the database shortly after the location starts."""
    from platform_assets.nlp.demo import seed_goals_database
    from tests.provenance.live_location import REPO_ROOT, live_location
    from tests.support.processes import wait_until

    url = f"sqlite:///{tmp_path}/goals.db"
    engine = sa.create_engine(url)
    seed_goals_database(engine)
    engine.dispose()
    env = {"GOALS_DATABASE_URL": url, "PLATFORM_HOME": str(tmp_path / "home")}
    with live_location(tmp_path, REPO_ROOT / "platform_assets" / "definitions.py", env=env) as live:
        truth = recipient_goal_versions(GoalsDatabase(url=url))
        with live.instance() as instance:

            def observed() -> dict[str, str] | None:
                versions = {key: current_data_version(instance, GOALS_KEY, key) for key in truth}
                return versions if versions == truth else None

            assert wait_until(observed, 300, "nlp/goals to be observed", interval=3) == truth
            # other sensors of the location may start runs of their own (CTS demo events)
            goals_runs = [run for run in instance.get_runs() if GOALS_KEY in (run.asset_selection or ())]
            assert goals_runs == [], "observations need no run"
