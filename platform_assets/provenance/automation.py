"""Declarative automation that follows provenance, not activity.

`AutomationCondition.eager()` requests an asset whenever an upstream *ran*. A platform
asset is requested only when it is missing, when its own code version changed, or when
an upstream's *data version* changed: an upstream that re-ran and produced the same data
version (or a stochastic upstream whose logical version did not move) requests nothing.
"""

import dagster as dg


def platform_automation_condition() -> dg.AutomationCondition:
    """Missing (when first evaluated, or newly missing such as a new dynamic partition),
    own code version changed, or any upstream data version changed; never while the asset
    or an upstream is in progress or an upstream is missing. A failed run is not retried
    tick after tick: the trigger is consumed when the request is made."""
    condition = dg.AutomationCondition
    # `since_last_handled()` resets on the first evaluation, so assets that are already
    # missing when automation starts are requested by their own branch.
    missing_at_start = condition.missing() & condition.initial_evaluation()
    triggers: dg.AutomationCondition = (
        condition.missing().newly_true()
        | condition.code_version_changed()
        | condition.any_deps_match(condition.data_version_changed())
    )
    changed = triggers.since_last_handled()
    return (
        condition.in_latest_time_window()
        & (missing_at_start | changed)
        & ~condition.any_deps_missing()
        & ~condition.any_deps_in_progress()
        & ~condition.in_progress()
    ).with_label("missing, new code version or new upstream data version")
