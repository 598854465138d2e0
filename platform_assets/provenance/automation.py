"""Declarative automation that follows provenance, not activity.

`AutomationCondition.eager()` requests an asset whenever an upstream *ran*. A platform
asset is requested only when it is missing, when its own code version changed, or when
an upstream's *data version* changed: an upstream that re-ran and produced the same data
version (or a stochastic upstream whose logical version did not move) requests nothing.
"""

import dagster as dg


def platform_automation_condition() -> dg.AutomationCondition:
    condition = dg.AutomationCondition
    return (
        condition.in_latest_time_window()
        & (
            condition.missing().newly_true()
            | condition.code_version_changed()
            | condition.any_deps_match(condition.data_version_changed())
        ).since_last_handled()
        & ~condition.any_deps_missing()
        & ~condition.any_deps_in_progress()
        & ~condition.in_progress()
    ).with_label("missing, new code version or new upstream data version")
