"""Re-import CTS jobs as one backfill (after an importer fix, or to force a refresh).

Fixing an importer changes its asset's code version, so every imported job becomes stale.
One asset backfill re-imports them: the backfill daemon runs it in chunks of the asset's
backfill policy (``MAX_JOBS_PER_RUN`` jobs per run, one MERGE commit each), and every
partition whose provenance is current skips without computing. This is what the UI does
for *Materialize -> All partitions* on the asset; this module does the same from a shell:

    python -m platform_assets.cts.reimport checkm2 [--force] [--partitions job-1,job-2]

(with ``DAGSTER_HOME`` pointing at the instance; the daemon must run). Note: `dagster job
backfill` launches one run per partition from the CLI, ignoring backfill policies, so
for thousands of jobs it is the slow path.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import dagster as dg

from platform_assets.cts.importers.registry import IMPORTERS
from platform_assets.provenance import FORCE_TAG
from platform_assets.provenance.dagster_internals import submit_asset_backfill


def request_reimport(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    importer_name: str,
    partitions: Sequence[str] | None = None,
    force: bool = False,
) -> str:
    """Submit an asset backfill of ``importer_name``'s asset over ``partitions`` (all by
    default); ``force`` recomputes current partitions too. Returns the backfill id."""
    importer = IMPORTERS[importer_name]
    return submit_asset_backfill(
        instance,
        defs,
        importer.asset_key,
        partitions,
        tags={FORCE_TAG: "true"} if force else {},
        title=f"re-import {importer.table}",
        description="CTS re-import (platform_assets.cts.reimport)",
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Re-import CTS jobs of an importer as one batched backfill")
    parser.add_argument("importer", choices=sorted(IMPORTERS))
    parser.add_argument("--partitions", help="comma-separated job ids (default: every imported job)")
    parser.add_argument("--force", action="store_true", help="recompute jobs whose import is current too")
    args = parser.parse_args(argv)
    from platform_assets.definitions import defs

    with dg.DagsterInstance.get() as instance:
        partitions = [p for p in (args.partitions or "").split(",") if p]
        backfill_id = request_reimport(instance, defs, args.importer, partitions or None, args.force)
    print(f"backfill {backfill_id} submitted: the daemon runs it")


if __name__ == "__main__":
    main()
