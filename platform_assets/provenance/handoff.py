"""What an unchanged asset's step does so that skipping never shows in the UI.

Dagster skips every step downstream of a step that yielded no output in the same run, so
an unchanged asset that records nothing would starve a selected child that has to
compute (its own code changed, or another parent did), turn its checks into "Skipped",
and leave a backfill with partitions "without materialization status". When its step is
unchanged, an asset therefore

* re-records its latest materialization (same data version, metadata copied, the reason
  in `platform/reason` and `platform/rerecorded=True`) when the run is part of a backfill,
  when a selected child in the run would compute (predicted as in `predict.py`), or when a
  selected check cannot reuse its last result; the data version is unchanged, so nothing
  downstream recomputes because of it;
* otherwise re-emits each selected check's last result (`checks.py`) and records nothing:
  a pure no-op run leaves no trace but its logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from platform_assets.provenance.checks import reusable_evaluation
from platform_assets.provenance.dagster_internals import (
    BACKFILL_ID_TAG,
    node_name_of,
    resolved_op_config,
    run_asset_selection,
    run_check_selection,
    step_asset_graph,
)
from platform_assets.provenance.predict import RunView, predict
from platform_assets.provenance.skip import (
    FORCED_METADATA_KEY,
    REASON_METADATA_KEY,
    RERECORDED_METADATA_KEY,
    is_forced,
    recorded_data_version,
)

RERECORDED_FROM_RUN_KEY = "platform/rerecorded_from_run"


@dataclass
class Handoff:
    rerecord_because: str | None = None
    reused_checks: list[dg.AssetCheckEvaluation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_handoff(context: dg.AssetExecutionContext, previous: dg.EventLogRecord) -> Handoff:
    """What an unchanged step must hand on (module docstring)."""
    materialization = previous.asset_materialization
    assert materialization is not None
    backfill = context.run.tags.get(BACKFILL_ID_TAG)
    if backfill:
        return Handoff(f"unchanged; re-recorded so that backfill {backfill} counts this partition")
    partition = context.partition_key if context.has_partition_key else None
    graph = step_asset_graph(context)
    selection = run_asset_selection(context)
    children = sorted(
        (k for k in graph.get(context.asset_key).child_keys if k in selection), key=lambda k: k.to_user_string()
    )
    if children:
        view = RunView(
            instance=context.instance,
            asset_graph=graph,
            selection=selection,
            forced=is_forced(context.run.tags),
            op_config=lambda assets_def: resolved_op_config(context, node_name_of(context, assets_def.key)),
            resources=context.resources,
            known_versions={(context.asset_key, partition): recorded_data_version(materialization) or ""},
        )
        for child in children:
            decision = predict(view, child, partition)
            if decision.compute:
                return Handoff(
                    f"unchanged; re-recorded so that {child.to_user_string()} can compute in this run "
                    f"({decision.reason})"
                )
    handoff = Handoff()
    checks = sorted(
        (k for k in run_check_selection(context) if k.asset_key == context.asset_key),
        key=lambda k: k.to_user_string(),
    )
    for check_key in checks:
        evaluation, why = reusable_evaluation(context, check_key, previous.storage_id)
        if evaluation is None:
            return Handoff(f"unchanged; re-recorded so that its checks run ({why})")
        handoff.reused_checks.append(evaluation)
        handoff.notes.append(why)
    return handoff


def rerecorded(previous: dg.EventLogRecord, reason: str) -> dg.MaterializeResult:
    """The latest materialization again: same data version and metadata, and why."""
    materialization = previous.asset_materialization
    assert materialization is not None
    metadata: dict[str, Any] = dict(materialization.metadata)
    metadata.update(
        {
            REASON_METADATA_KEY: reason,
            FORCED_METADATA_KEY: False,
            RERECORDED_METADATA_KEY: True,
            # the run that computed it (a re-record of a re-record points at the original)
            RERECORDED_FROM_RUN_KEY: _text(materialization.metadata.get(RERECORDED_FROM_RUN_KEY)) or previous.run_id,
        }
    )
    version = recorded_data_version(materialization)
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(version) if version else None)


def _text(value: Any) -> str | None:
    return str(getattr(value, "value", value)) if value is not None else None


def unchanged_step_events(context: dg.AssetExecutionContext, previous: dg.EventLogRecord) -> Iterator[Any]:
    """Events of an unchanged step: a re-recorded materialization, or reused check results."""
    handoff = plan_handoff(context, previous)
    if handoff.rerecord_because is not None:
        context.log.info(f"{context.asset_key.to_user_string()}: {handoff.rerecord_because}")
        yield rerecorded(previous, handoff.rerecord_because)
        return
    for evaluation in handoff.reused_checks:
        context.log_event(evaluation)
    for note in handoff.notes:
        context.log.info(note)
