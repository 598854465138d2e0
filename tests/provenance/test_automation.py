"""Declarative automation follows data versions, not activity: evaluated tick by tick with
`dg.evaluate_automation_conditions` on a real instance, next to `eager()` as the contrast."""

from __future__ import annotations

import dagster as dg
import pytest

from platform_assets.provenance import FORCE_TAG, content_version, versioned_asset

pytestmark = pytest.mark.slow  # automation evaluations over real instances: seconds per test


def build(state: dict, condition=None):
    kwargs = {} if condition is None else {"automation_condition": condition}

    @versioned_asset(key=["auto", "upstream"], **kwargs)
    def upstream(context: dg.AssetExecutionContext):
        return dg.MaterializeResult(data_version=content_version(state["text"]))

    @versioned_asset(key=["auto", "downstream"], deps=[upstream], **kwargs)
    def downstream(context: dg.AssetExecutionContext):
        return None

    return [upstream, downstream]


class Ticker:
    def __init__(self, assets, instance):
        self.defs = dg.Definitions(assets=assets)
        self.instance = instance
        self.cursor = None

    def requested(self) -> set[str]:
        result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        return {
            key.to_user_string()
            for key in (dg.AssetKey(["auto", "upstream"]), dg.AssetKey(["auto", "downstream"]))
            if result.get_num_requested(key)
        }


def test_requests_missing_then_only_data_version_changes():
    state = {"text": "v1"}
    assets = build(state)
    with dg.instance_for_test() as instance:
        ticker = Ticker(assets, instance)
        # both missing: requested together (downstream after upstream in one run)
        assert ticker.requested() == {"auto/upstream", "auto/downstream"}
        dg.materialize(assets, instance=instance)
        assert ticker.requested() == set()

        # upstream ran again but produced the same data version: nothing to do
        dg.materialize(assets[:1], instance=instance, tags={FORCE_TAG: "true"})
        assert ticker.requested() == set()

        # upstream data changed: downstream is requested
        state["text"] = "v2"
        dg.materialize(assets[:1], instance=instance, tags={FORCE_TAG: "true"})
        assert ticker.requested() == {"auto/downstream"}


def test_code_version_change_requests_the_changed_asset():
    state = {"text": "v1"}
    with dg.instance_for_test() as instance:
        assets = build(state)
        dg.materialize(assets, instance=instance)
        ticker = Ticker(assets, instance)
        assert ticker.requested() == set()

        @versioned_asset(key=["auto", "downstream"], deps=[assets[0]])
        def downstream(context: dg.AssetExecutionContext):
            return "new logic"

        ticker.defs = dg.Definitions(assets=[assets[0], downstream])
        assert ticker.requested() == {"auto/downstream"}


def test_eager_would_have_rerun_downstream_on_mere_activity():
    """The contrast that motivates the platform condition."""
    state = {"text": "v1"}
    assets = build(state, condition=dg.AutomationCondition.eager())
    with dg.instance_for_test() as instance:
        dg.materialize(assets, instance=instance)
        ticker = Ticker(assets, instance)
        ticker.requested()
        dg.materialize(assets[:1], instance=instance, tags={FORCE_TAG: "true"})
        assert ticker.requested() == {"auto/downstream"}
