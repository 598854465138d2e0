"""Property tests of everything the CTS path reads from outside, without services: the
event parser, dead letters, clipping/redaction, the TSV reader and output paths.

Bounded and derandomized in `make test`; see tests/cts/fuzzing.py for the long profile.
"""

from __future__ import annotations

import json
import posixpath
import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from platform_assets.cts.events import (
    ERROR_FIELD,
    MIN_MESSAGE_BYTES,
    RECORD_OVERHEAD_BYTES,
    TRACE_FIELD,
    TRUNCATED_HEADER,
    BadEvent,
    dead_letter,
    parse_event,
)
from platform_assets.cts.strict_cast import ReportFormatError
from platform_assets.cts.tsv import TsvReader, parse_tsv
from resources.cts.outputs import InvalidOutputPath, parse_s3_path
from resources.cts.text import clip
from tests.cts.fuzzing import any_text, event_objects, fuzz, json_values, messages


@fuzz(300)
@given(messages)
def test_any_message_parses_to_an_event_or_a_bad_event(value):
    """Invariant: `parse_event` raises nothing but `BadEvent` for any bytes; an event it
    accepts has a run key that is printable, bounded and free of NUL/surrogates, and an
    event tag that is ASCII JSON of the original body."""
    try:
        event = parse_event(value)
    except BadEvent as e:
        assert str(e)
        return
    assert event.run_key.isprintable() and len(event.run_key) <= 400
    event.run_key.encode("utf-8")  # no lone surrogate
    tag = event.to_json()
    assert tag.isascii() and json.loads(tag) == json.loads(value)


@fuzz(300)
@given(event_objects)
def test_any_event_shaped_object_parses_or_names_its_problem(body):
    """Invariant (event-shaped objects with fields of any type and text): as above, and
    a job id that reaches the CTS is exactly the CTS pattern."""
    try:
        event = parse_event(json.dumps(body).encode())
    except BadEvent:
        return
    assert event.job_id.isascii() and 1 <= len(event.job_id) <= 50
    assert event.run_key.isprintable()


originals = st.one_of(
    st.binary(max_size=5_000),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(any_text, json_values, max_size=5),
    st.builds(lambda n: b"y" * n, st.integers(0, 1_500_000)),
    st.builds(lambda n: {"job_id": "j", "pad": "z" * n}, st.integers(0, 1_500_000)),
)


@fuzz(200)
@given(
    original=originals,
    error=any_text,
    trace=any_text,
    max_bytes=st.integers(MIN_MESSAGE_BYTES, 1_100_000),
    source=st.none() | any_text,
)
def test_a_dead_letter_always_fits_and_keeps_what_it_can(original, error, trace, max_bytes, source):
    """Invariant: for any original, error, trace (any size, any text) and broker limit,
    the dead letter fits the limit with its framing, carries `error_dlq` in its headers
    and the trace exactly once, and keeps the original: a JSON object with its fields
    intact, or the bytes as they came, cut (and marked) only when they alone are too big."""
    letter = dead_letter(original, error, trace, max_bytes=max_bytes, source=source)
    assert letter.size <= max_bytes - RECORD_OVERHEAD_BYTES
    headers = dict(letter.headers)
    assert len(headers) == len(letter.headers) and ERROR_FIELD in headers
    try:
        body = json.loads(letter.value)
    except (ValueError, RecursionError):
        body = None
    in_body = isinstance(body, dict) and TRACE_FIELD in body and ERROR_FIELD in body
    assert in_body != (TRACE_FIELD in headers)  # the trace once
    raw = original if isinstance(original, bytes) else json.dumps(original).encode()
    if in_body and TRUNCATED_HEADER not in headers and isinstance(original, dict):
        assert {k: v for k, v in body.items() if k not in (ERROR_FIELD, TRACE_FIELD)} == json.loads(raw)
    elif not in_body:
        assert raw.startswith(letter.value)
        assert (letter.value != raw) == (TRUNCATED_HEADER in headers)


SECRET_ALPHABET = string.ascii_uppercase


@fuzz(300)
@given(
    before=st.text(string.ascii_lowercase + " ", max_size=3_000),
    after=st.text(string.ascii_lowercase + " ", max_size=3_000),
    secret=st.text(SECRET_ALPHABET, min_size=8, max_size=64),
    limit=st.integers(0, 4_000),
    keep_tail=st.integers(0, 2_000),
)
def test_clipping_redacts_first_and_respects_its_limit(before, after, secret, limit, keep_tail):
    """Invariant: `clip` output is at most `limit` characters, and no character of a
    secret survives, wherever the cut falls (redaction happens on the whole text)."""
    clipped = clip(
        before + secret + after, limit, redact=lambda t: t.replace(secret, "<redacted>"), keep_tail=keep_tail
    )
    assert len(clipped) <= max(limit, 0)
    assert not set(clipped) & set(SECRET_ALPHABET)


fields = st.text(st.characters(exclude_characters="\t\n", exclude_categories=["Cs"]), max_size=12)


@fuzz(300)
@given(
    header=st.lists(fields, min_size=1, max_size=6, unique=True).filter(lambda h: h[0].strip(" \r")),
    data=st.data(),
    newline=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
    chunk=st.integers(1, 64),
)
def test_tsv_round_trip(header, data, newline, final_newline, chunk):
    """Invariant: whatever the fields contain (U+2028, U+0085, FF, RS, CR inside...), a
    file written with `\\n` or `\\r\\n` and tabs reads back as exactly its rows, with the
    line numbers of a text editor, however the bytes are chunked."""
    width = len(header)
    rows = data.draw(st.lists(st.lists(fields, min_size=width, max_size=width), max_size=8))
    rows = [r for r in rows if "\t".join(r) != ""]  # an empty line is not a row
    assume(not any(r[-1].endswith("\r") for r in [header, *rows]))  # "x\r" + "\n" is a CRLF line end
    assume(not (header[-1] == "" and header[0].endswith("\r")))
    text = newline.join("\t".join(r) for r in [header, *rows]) + (newline if final_newline else "")
    encoded = text.encode()
    chunks = [encoded[i : i + chunk] for i in range(0, len(encoded), chunk)]
    reader = TsvReader("bkt/r.tsv", chunks)
    assert reader.header == header
    assert reader.rows() == [(n, r) for n, r in enumerate(rows, start=2)]


@fuzz(200)
@given(st.lists(fields, min_size=2, max_size=5))
def test_a_duplicated_header_column_is_always_refused(header):
    assume(header[0].strip(" \r"))
    with pytest.raises(ReportFormatError, match="more than once"):
        parse_tsv("bkt/r.tsv", "\t".join([*header, header[-1]]).encode())


segments = st.one_of(
    st.sampled_from(["", ".", "..", "...", "a", "out", "job-1", "..a", "a..", " ", "%2e%2e", "\\", "~"]),
    st.text(max_size=6),
)
roots = st.sampled_from(["cts-data/out/job-1", "cts-data/out", "bkt/a/b/c"])


@fuzz(500)
@given(
    root=roots, bucket=st.sampled_from(["cts-data", "bkt", "other", "", "CTS"]), parts=st.lists(segments, max_size=6)
)
def test_an_accepted_path_inside_the_root_is_inside_after_normalization(root, bucket, parts):
    """Invariant (path confinement): `parse_s3_path` accepts or raises `InvalidOutputPath`,
    never anything else; an accepted path is already normalized (POSIX `normpath` leaves
    it unchanged, so no `..` or empty segment can move it), and it counts as inside the
    job's root exactly when its normalized form lies strictly below the root's."""
    path = "/".join([bucket, *parts])
    root_path = parse_s3_path(root)
    try:
        parsed = parse_s3_path(path)
    except InvalidOutputPath:
        return
    normalized = posixpath.normpath("/" + path)
    assert normalized == "/" + path
    assert parsed.is_within(root_path) == normalized.startswith(f"/{root}/")


@fuzz(300)
@given(root=roots, parts=st.lists(st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True), min_size=1, max_size=5))
def test_paths_built_below_the_root_are_accepted(root, parts):
    assume(all(p not in (".", "..") for p in parts))
    assert parse_s3_path("/".join([root, *parts])).is_within(parse_s3_path(root))
