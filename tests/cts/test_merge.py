"""DeltaLake.merge: create-if-missing, replays write no version, concurrent merges."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from resources.cts.lake import DeltaLake

SCHEMA = pa.schema(
    [
        pa.field("cts_job_id", pa.string(), nullable=False),
        pa.field("Name", pa.string(), nullable=False),
        pa.field("Completeness", pa.float64()),
        pa.field("Notes", pa.string()),
    ]
)
KEYS = ("cts_job_id", "Name")


def rows(job: str, names, completeness=90.0, notes=None) -> pa.Table:
    names = list(names)
    return pa.table(
        {
            "cts_job_id": [job] * len(names),
            "Name": names,
            "Completeness": [completeness] * len(names),
            "Notes": [notes] * len(names),
        },
        schema=SCHEMA,
    )


def keys_of(table: pa.Table) -> list[tuple]:
    return sorted(zip(table["cts_job_id"].to_pylist(), table["Name"].to_pylist(), strict=True))


def test_replay_writes_no_new_version_and_changes_update(tmp_path):
    lake = DeltaLake(url=f"file://{tmp_path}/lake")
    assert lake.version("cts/t") is None
    first = lake.merge("cts/t", rows("j1", ["a", "b"]), KEYS)
    assert (first.rows_inserted, first.new_version) == (2, True)
    version = lake.version("cts/t")

    replay = lake.merge("cts/t", rows("j1", ["a", "b"]), KEYS)
    assert (replay.rows_inserted, replay.rows_updated, replay.new_version) == (0, 0, False)
    assert lake.version("cts/t") == version  # nulls compare equal too (IS DISTINCT FROM)

    changed = lake.merge("cts/t", rows("j1", ["b", "c"], notes="fixed"), KEYS)
    assert (changed.rows_inserted, changed.rows_updated, changed.new_version) == (1, 1, True)
    table = lake.read("cts/t")
    assert keys_of(table) == [("j1", "a"), ("j1", "b"), ("j1", "c")]
    notes = dict(zip(table["Name"].to_pylist(), table["Notes"].to_pylist(), strict=True))
    assert notes == {"a": None, "b": "fixed", "c": "fixed"}


def test_concurrent_merges_into_one_table_keep_one_row_per_key(tmp_path):
    """Several writers at once (one table, overlapping and distinct keys): delta-rs
    rejects the losers' commits and merge() re-runs them: no duplicates, no lost rows."""
    lake = DeltaLake(url=f"file://{tmp_path}/lake")
    batches = [
        rows("j1", [f"g{i}" for i in range(40)]),  # the same job imported twice
        rows("j1", [f"g{i}" for i in range(40)]),
        rows("j2", [f"g{i}" for i in range(40)]),
        rows("j3", [f"g{i}" for i in range(40)]),
    ]
    barrier = threading.Barrier(len(batches))
    results, errors = [], []

    def write(batch):
        barrier.wait()
        try:
            results.append(lake.merge("cts/t", batch, KEYS))
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(b,)) for b in batches]
    [t.start() for t in threads]
    [t.join() for t in threads]

    assert errors == []
    table = lake.read("cts/t")
    expected = sorted({(j, f"g{i}") for j in ("j1", "j2", "j3") for i in range(40)})
    assert keys_of(table) == expected  # exactly one row per key, none lost
    assert sum(r.rows_inserted for r in results) == len(expected)


def test_merge_on_s3(s3_env):
    bucket = s3_env.create_bucket()
    lake = DeltaLake(url=f"s3://{bucket}/lake", aws_endpoint_url=s3_env.endpoint_url)
    assert lake.merge("cts/t", rows("j1", ["a", "b"]), KEYS).new_version
    assert not lake.merge("cts/t", rows("j1", ["a", "b"]), KEYS).new_version
    assert keys_of(lake.read("cts/t")) == [("j1", "a"), ("j1", "b")]
    listed = s3_env.client().list_objects_v2(Bucket=bucket, Prefix="lake/cts/t/_delta_log/")
    assert [o["Key"].rsplit("/", 1)[-1] for o in listed["Contents"]] == [
        "00000000000000000000.json",
        "00000000000000000001.json",
    ]


def test_a_column_added_by_a_fixed_importer_evolves_the_table(tmp_path):
    lake = DeltaLake(url=f"file://{tmp_path}/lake")
    lake.merge("cts/t", rows("j1", ["a", "b"]), KEYS)
    grown = rows("j1", ["a", "b"]).append_column("Quality", pa.array(["high", "low"]))
    result = lake.merge("cts/t", grown, KEYS)
    assert (result.rows_updated, result.new_version) == (2, True)
    assert not lake.merge("cts/t", grown, KEYS).new_version  # and a replay is a no-op again
    table = lake.read("cts/t")
    assert dict(zip(table["Name"].to_pylist(), table["Quality"].to_pylist(), strict=True)) == {"a": "high", "b": "low"}


def test_delete_missing_replaces_the_slice_exactly_in_one_commit(tmp_path):
    """Issue 12, row 5: a re-import whose report lost rows must not leave them behind;
    other slices are untouched, all in one commit, and a replay writes no version."""
    lake = DeltaLake(url=f"file://{tmp_path}/lake")
    lake.merge("cts/t", rows("j1", ["a", "b", "c"]), KEYS, target_filter={"cts_job_id": "j1"}, delete_missing=True)
    lake.merge("cts/t", rows("j2", ["a", "b"]), KEYS, target_filter={"cts_job_id": "j2"}, delete_missing=True)
    version = lake.version("cts/t")

    smaller = lake.merge("cts/t", rows("j1", ["b", "d"]), KEYS, target_filter={"cts_job_id": "j1"}, delete_missing=True)
    assert (smaller.rows_inserted, smaller.rows_deleted, smaller.new_version) == (1, 2, True)
    assert lake.version("cts/t") == version + 1  # one commit
    assert keys_of(lake.read("cts/t")) == [("j1", "b"), ("j1", "d"), ("j2", "a"), ("j2", "b")]

    replay = lake.merge("cts/t", rows("j1", ["b", "d"]), KEYS, target_filter={"cts_job_id": "j1"}, delete_missing=True)
    assert (replay.rows_inserted, replay.rows_updated, replay.rows_deleted, replay.new_version) == (0, 0, 0, False)
    assert lake.version("cts/t") == version + 1

    emptied = lake.merge("cts/t", rows("j2", []), KEYS, target_filter={"cts_job_id": "j2"}, delete_missing=True)
    assert emptied.rows_deleted == 2
    assert keys_of(lake.read("cts/t")) == [("j1", "b"), ("j1", "d")]


def test_delete_missing_needs_a_slice(tmp_path):
    lake = DeltaLake(url=f"file://{tmp_path}/lake")
    with pytest.raises(ValueError, match="needs a target_filter"):
        lake.merge("cts/t", rows("j1", ["a"]), KEYS, delete_missing=True)


def test_values_in_predicates_are_quoted(tmp_path):
    """Slice values come from job ids and are quoted, never spliced (SQL metacharacters)."""
    lake = DeltaLake(url=f"file://{tmp_path}/lake")
    tricky = "j' OR '1'='1"
    lake.merge("cts/t", rows("j1", ["a"]), KEYS, target_filter={"cts_job_id": "j1"}, delete_missing=True)
    lake.merge("cts/t", rows(tricky, ["a"]), KEYS, target_filter={"cts_job_id": tricky}, delete_missing=True)
    lake.merge("cts/t", rows(tricky, []), KEYS, target_filter={"cts_job_id": [tricky, "nobody"]}, delete_missing=True)
    assert keys_of(lake.read("cts/t")) == [("j1", "a")]
