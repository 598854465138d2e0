"""One dynamic partition per recipient, kept in sync with the goals database.

Keys are the recipient ids as strings. New recipients are added and recipients that left
the database are removed whenever the schedule (or `seed_demo`) syncs.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

RECIPIENT_PARTITIONS = "nlp_recipients"
recipient_partitions = dg.DynamicPartitionsDefinition(name=RECIPIENT_PARTITIONS)


def recipient_key(recipient_id: int) -> str:
    return str(recipient_id)


def recipient_id_of(partition_key: str) -> int:
    try:
        return int(partition_key)
    except ValueError:
        raise ValueError(f"partition key {partition_key!r} is not a recipient id (expected an integer)") from None


def sync_recipient_partitions(
    instance: dg.DagsterInstance, recipient_ids: Iterable[int]
) -> tuple[list[str], list[str]]:
    """Make the partition set equal to the recipients in the database; returns (added, removed)."""
    wanted = [recipient_key(r) for r in sorted(set(recipient_ids))]
    existing = set(instance.get_dynamic_partitions(RECIPIENT_PARTITIONS))
    added = [k for k in wanted if k not in existing]
    removed = sorted(existing - set(wanted))
    if added:
        instance.add_dynamic_partitions(RECIPIENT_PARTITIONS, added)
    for key in removed:
        instance.delete_dynamic_partition(RECIPIENT_PARTITIONS, key)
    return added, removed


def all_recipients_range(instance: dg.DagsterInstance) -> dg.PartitionKeyRange | None:
    """The range covering every recipient partition: one run processes them all."""
    keys = instance.get_dynamic_partitions(RECIPIENT_PARTITIONS)
    return dg.PartitionKeyRange(keys[0], keys[-1]) if keys else None
