"""Property test of `cts_job_events` against the real world: a Tansu broker, the CTS
emulator over HTTP serving arbitrary job documents, ticks on a real instance (SQLite and
PostgreSQL, the production storage). Bounded and derandomized in `make test`; see
tests/cts/fuzzing.py for the long profile.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platform_assets.cts.events import SOURCE_HEADER
from platform_assets.cts.job_meta import META_NO_OPERATION
from tests.cts.fuzzing import any_text, fuzz, json_values, messages

pytestmark = pytest.mark.slow

DOCUMENTS = ["importable", "no-importer", "missing", "json-value", "raw-bytes", "broken-image"]
job_events = st.fixed_dictionaries(
    {
        "document": st.sampled_from(DOCUMENTS),
        "state": st.sampled_from(["complete", "complete", "created", "upload_submitted"]),
        "trans_id": st.one_of(st.none(), st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True), any_text),
        "value": json_values,
        "raw": st.binary(max_size=300),
        "copies": st.integers(1, 3),  # at-least-once delivery
    }
)
specs = st.lists(st.one_of(messages.map(lambda m: {"message": m}), job_events), min_size=1, max_size=8)


def serve(events, job_id: str, spec: dict) -> None:
    kind = spec["document"]
    if kind == "importable":
        events.add_jobs(job_id)
    elif kind == "no-importer":
        events.add_jobs(job_id, image="ghcr.io/someone/not_imported")
    elif kind == "json-value":
        events.emulator.serve_raw(job_id, json.dumps(spec["value"]).encode())
    elif kind == "raw-bytes":
        events.emulator.serve_raw(job_id, spec["raw"], content_type="text/html")
    elif kind == "broken-image":
        events.emulator.add_job({"id": job_id, "state": "complete", "image": spec["value"]})


def printable_key_part(value) -> bool:
    return value is None or (isinstance(value, str) and len(value.strip()) <= 128 and value.strip().isprintable())


@fuzz(15)
@given(data=st.data())
def test_every_message_ends_exactly_once_and_the_cursor_passes_it(events_on_each_storage, monkeypatch, data):
    """Invariant: whatever the messages (any bytes, any JSON, huge, deep, NUL, lone
    surrogates) and whatever the CTS answers for their jobs (any JSON, any bytes, no
    image), no tick raises; every message ends exactly once: requested, skipped or
    dead-lettered (never twice); a valid `complete` event of an importable job is
    requested, one whose job document is not a usable job is dead-lettered, one whose
    image has no importer is marked `_no_operation`; and the cursor passes every message."""
    import sensors.cts.job_events as module

    monkeypatch.setattr(module, "IDLE_SECONDS", 0.5)
    events = events_on_each_storage
    # a loaded test machine must not look like a CTS outage (that stops a tick by design)
    events.configure_cts(timeout_seconds=15.0)
    drawn = data.draw(specs)
    produced: list[tuple[bytes, dict]] = []
    for spec in drawn:
        if "message" in spec:
            produced.append((spec["message"], spec))
            continue
        job_id = f"fz-{uuid.uuid4().hex[:12]}"
        serve(events, job_id, spec)
        event = {"job_id": job_id, "state": spec["state"], "time": "2024-03-24T12:00:00+00:00"}
        if spec["trans_id"] is not None:
            event["trans_id"] = spec["trans_id"]
        spec = {**spec, "job_id": job_id, "event": event}
        produced += [(json.dumps(event).encode(), spec)] * spec["copies"]
    partitions = data.draw(st.lists(st.integers(0, 2), min_size=len(produced), max_size=len(produced)))
    where = [events.produce(value, partition=p)[0] for (value, _), p in zip(produced, partitions, strict=True)]
    before = set(events.run_keys())

    for _ in range(30):  # a tick never raises; ticks drain everything (a slow broker may need more)
        events.tick()
        cursor = {int(p): v["next"] for p, v in json.loads(events.cursor)["partitions"].items()}
        if all(cursor.get(p, 0) > offset for p, offset in where):
            break
    assert all(cursor.get(p, 0) > offset for p, offset in where), "the cursor passes every message"

    topic = events.kafka.jobs_topic
    sources = Counter(letter["headers"].get(SOURCE_HEADER) for letter in events.dead_letters())
    lettered = {(p, o) for p, o in where if sources[f"{topic}:{p}:{o}"]}
    assert all(sources[f"{topic}:{p}:{o}"] <= 1 for p, o in where), "dead-lettered at most once"

    requested = set(events.run_keys()) - before
    expected_keys = set()
    for (p, o), (_, spec) in zip(where, produced, strict=True):
        if "event" not in spec or spec["state"] != "complete" or not printable_key_part(spec["trans_id"]):
            continue
        key = f"cts:{spec['job_id']}:{(spec['trans_id'] or '').strip() or 'complete'}"
        kind = spec["document"]
        if kind == "importable":
            expected_keys.add(key)
            assert (p, o) not in lettered
        elif kind == "no-importer":
            assert (p, o) not in lettered and META_NO_OPERATION in events.emulator.meta(spec["job_id"])
        elif kind in ("missing", "raw-bytes", "broken-image") or not isinstance(spec["value"], dict):
            assert (p, o) in lettered, f"{kind} document must be dead-lettered"
    assert expected_keys <= requested
    fuzz_keys = {k for k in requested if not k.startswith("cts:fz-")}
    assert requested - expected_keys - fuzz_keys == set(), "nothing requested that should not be"
