"""One poison message never stops `cts_job_events` (issue 12, row 1).

Each case puts one hostile message (or a hostile job document) in front of a good event
on the same partition of a real Tansu topic and evaluates the sensor on a real instance
(SQLite, and PostgreSQL where that is what breaks): the tick must not raise, the poison
is dead-lettered exactly once with `error_dlq`/`error_dlq_trace`, the good event behind
it is requested in the same tick, and the cursor passes both.
"""

from __future__ import annotations

import json

import pytest

from platform_assets.cts.events import MAX_EVENT_BYTES, SOURCE_HEADER, TRUNCATED_HEADER
from resources.cts.kafka import PRODUCER_MESSAGE_MAX_BYTES


def positions(cursor: str | None) -> dict[int, int]:
    return {int(p): v["next"] for p, v in json.loads(cursor or '{"partitions": {}}')["partitions"].items()}


def poison_then_good(events, poison, good_job: str = "good-job") -> tuple[dict, int]:
    """Produce ``poison`` then a good event on partition 0, tick; returns (the only dead
    letter, the poison's offset) after checking the tick went on."""
    events.add_jobs(good_job)
    [(_, poison_offset), (_, good_offset)] = events.produce(poison, events.event(good_job), partition=0)
    result = events.tick()  # must not raise

    assert [r.partition_key for r in result.run_requests] == [good_job]
    assert positions(events.cursor)[0] == good_offset + 1
    [letter] = events.dead_letters()
    assert letter["headers"][SOURCE_HEADER] == f"{events.kafka.jobs_topic}:0:{poison_offset}"
    assert letter["headers"]["error_dlq"]
    assert letter.get("error_dlq_trace") or letter["headers"].get("error_dlq_trace")

    events.tick()  # the cursor passed it: never dead-lettered twice, nothing requested twice
    assert len(events.dead_letters()) == 1 and events.run_keys() == [f"cts:{good_job}:{good_job}-complete"]
    return letter, poison_offset


@pytest.mark.parametrize(
    "poison",
    [
        b"[" * 4000 + b"]" * 4000,  # RecursionError in json.loads, under the size limit
        json.dumps({"job_id": "deep", "state": "complete", "x": "@"}).replace('"@"', "[" * 3000 + "]" * 3000).encode(),
    ],
    ids=["deep-array", "deep-field"],
)
def test_deeply_nested_json_is_dead_lettered(events, poison):
    letter, _ = poison_then_good(events, poison)
    assert "nested too deeply" in letter["headers"]["error_dlq"]
    assert letter["raw"] == poison  # forwarded as it came


@pytest.mark.parametrize(
    "trans_id",
    ["\ud800", "a\x00b", "line\nbreak", "x" * 200, 12345],
    ids=["lone-surrogate", "nul", "newline", "too-long", "not-a-string"],
)
def test_a_trans_id_that_cannot_be_a_run_key_is_dead_lettered(events_on_each_storage, trans_id):
    """A lone surrogate breaks SQLite, NUL breaks PostgreSQL: neither reaches a run key,
    a run tag or a query, on either storage."""
    events = events_on_each_storage
    event = {"job_id": "bad-trans", "state": "complete", "time": "t", "trans_id": trans_id}
    events.add_jobs("bad-trans")
    letter, _ = poison_then_good(events, json.dumps(event).encode())
    assert "trans_id" in letter["error_dlq"]
    assert {k: letter[k] for k in event} == event  # the original event, fields intact


def test_nul_and_surrogates_elsewhere_in_the_event_reach_the_run_escaped(events_on_each_storage):
    """Other fields are free text: they travel in the run's config as ASCII JSON, and the
    run is created on either storage."""
    events = events_on_each_storage
    events.add_jobs("odd-fields")
    event = {"job_id": "odd-fields", "state": "complete", "time": "\x00\ud800\u2028", "trans_id": "t-1", "n": None}
    events.produce(event)
    [request] = events.tick().run_requests
    [run] = events.runs
    stored = events.instance.get_run_by_id(run.run_id)
    assert events.event_of(stored, "odd-fields") == event
    assert request.run_key == "cts:odd-fields:t-1"


def test_an_event_of_a_megabyte_is_dead_lettered_within_the_broker_limit(events):
    big = {"job_id": "big-job", "state": "complete", "trans_id": "t", "pad": "x" * 1_200_000}
    raw = json.dumps(big).encode()
    letter, _ = poison_then_good(events, raw)
    assert f"{len(raw):,} bytes; a CTS event has at most {MAX_EVENT_BYTES:,}" in letter["headers"]["error_dlq"]
    assert letter["size"] < PRODUCER_MESSAGE_MAX_BYTES
    assert raw.startswith(letter["raw"]) and len(letter["raw"]) > 900_000  # the original, cut only to fit
    assert letter["headers"][TRUNCATED_HEADER] == f"original {len(raw)} bytes, first {len(letter['raw'])} kept"
    assert "cut to fit the broker's limit" in letter["headers"]["error_dlq"]


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b"<html><body>502 Bad Gateway</body></html>", "text/html"),
        (b"", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"null", "application/json"),
        (b'"a string"', "application/json"),
        (b"\xff\xfe not utf-8", "application/json"),
        (b"[" * 50_000 + b"]" * 50_000, "application/json"),
    ],
    ids=["html", "empty", "list", "null", "string", "not-utf8", "deep"],
)
def test_a_job_document_that_is_not_a_json_object_is_a_per_job_error(events, body, content_type):
    events.emulator.serve_raw("broken-doc", body, content_type=content_type)
    letter, _ = poison_then_good(events, events.event("broken-doc"))
    assert letter["job_id"] == "broken-doc" and letter["state"] == "complete"
    assert "CtsBadResponse" in letter["error_dlq_trace"]
    assert "not JSON" in letter["error_dlq"] or "not a job document" in letter["error_dlq"]


def test_a_job_document_without_an_image_is_a_per_job_error(events):
    events.emulator.add_job({"id": "no-image", "state": "complete", "image": ["not", "an", "object"]})
    letter, _ = poison_then_good(events, events.event("no-image"))
    assert "no image name" in letter["error_dlq"]
