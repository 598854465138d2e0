"""The CTS job-event message contract, shared by the event, failure and replay sensors.

A CTS event is a JSON object ``{"job_id", "state", "time", "trans_id"}`` (no key, one per
state transition, delivered at least once). Nothing in a message is trusted: its size,
encoding, nesting, types and every field that reaches a URL, a run key or a run tag are
checked here, and a message that fails is a :class:`BadEvent` naming the problem.

Dead letters (:func:`dead_letter`) carry ``error_dlq`` (the error, at most
:data:`ERROR_CHARS` characters) and ``error_dlq_trace`` (the trace, at most
:data:`TRACE_CHARS`; both redacted, then clipped with a note saying so). A JSON-object
event keeps its fields and gets both added; anything else (not JSON, not an object, or
too large to carry them) is forwarded as it came, with the error and the trace in the
Kafka headers of the same names. The trace is never repeated; the ``error_dlq`` header
is on every dead letter (filtering without parsing). Every dead letter fits the broker's
message limit: the original is cut only if it alone is too large, and the error and the
``dlq_truncated`` header say so. ``dlq_source`` names where the message came from.
"""

from __future__ import annotations

import dataclasses
import json
import re
import traceback
from typing import Any, NamedTuple

from resources.cts.text import Redactor, clip, printable

REQUIRED_FIELDS = ("job_id", "state")
# the CTS's own job-id pattern: anything else cannot be a CTS job (and must never reach
# a URL path, a run key or a partition key)
JOB_ID_PATTERN = re.compile(r"[\w-]{1,50}", re.ASCII)
COMPLETE = "complete"
# a CTS event is ~150 bytes; anything much larger is not one (and would bloat run tags)
MAX_EVENT_BYTES = 8 * 1024
# state / trans_id / dlq_replay reach run keys and tags: printable (no NUL, no lone surrogates,
# no line breaks: PostgreSQL and SQLite store them) and bounded
MAX_KEY_PART_CHARS = 128
ERROR_FIELD = "error_dlq"
TRACE_FIELD = "error_dlq_trace"
SOURCE_HEADER = "dlq_source"  # "<topic>:<partition>:<offset>" or "run:<run id>"
TRUNCATED_HEADER = "dlq_truncated"  # set when the original had to be cut to fit
ERROR_CHARS = 2_000
TRACE_CHARS = 6_000
# what a record needs beyond value and headers (record + batch framing), kept free
RECORD_OVERHEAD_BYTES = 1_024
MIN_MESSAGE_BYTES = 4_096  # a dead letter needs at least this much
# set by the DLQ replay: "<dlq partition>:<dlq offset>" of the dead letter it came from
REPLAY_FIELD = "dlq_replay"
REPLAY_COUNT_FIELD = "dlq_replays"

# run tags of CTS import runs requested from events
EVENT_TAG = "cts/event"  # the original event JSON, published to the DLQ if the run fails
JOB_ID_TAG = "cts/job_id"
TRANSITION_TAG = "cts/trans_id"


class BadEvent(ValueError):
    """A message that is not a usable CTS event; the text says why (goes to ``error_dlq``)."""


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """One parsed, validated state transition of a CTS job."""

    job_id: str
    state: str
    body: dict[str, Any]
    trans_id: str | None = None
    replay: str | None = None

    @property
    def run_key(self) -> str:
        """Stable per (job, transition): duplicates and replays of the same delivery map
        to one run. A DLQ replay is a new delivery, so it gets its own key."""
        key = f"cts:{self.job_id}:{self.trans_id or self.state}"
        return f"{key}:replay:{self.replay}" if self.replay else key

    def to_json(self) -> str:
        """The event as ASCII JSON (non-ASCII, NUL and lone surrogates escaped)."""
        return json.dumps(self.body, sort_keys=True)


def _key_part(body: dict[str, Any], field: str) -> str | None:
    """An optional field that becomes part of a run key: printable text, bounded."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadEvent(f"Message field {field!r} must be a string, not {type(value).__name__}")
    value = value.strip()
    if len(value) > MAX_KEY_PART_CHARS or not value.isprintable():
        raise BadEvent(
            f"Message field {field!r} must be printable text of at most {MAX_KEY_PART_CHARS} "
            f"characters (no control characters, NUL or lone surrogates), not {printable(value, 80)}"
        )
    return value or None


def parse_event(value: bytes | None) -> JobEvent:
    """The event in a Kafka message value, or :class:`BadEvent` naming the problem."""
    data = value or b""
    if len(data) > MAX_EVENT_BYTES:
        raise BadEvent(f"Message is {len(data):,} bytes; a CTS event has at most {MAX_EVENT_BYTES:,}")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        reason = "nested too deeply" if isinstance(e, RecursionError) else clip(str(e), 200)
        raise BadEvent(f"Message is not valid JSON: {reason}") from None
    if not isinstance(body, dict):
        raise BadEvent(f"Message is not a JSON object but {type(body).__name__}")
    missing = [k for k in REQUIRED_FIELDS if k not in body]
    if missing:
        raise BadEvent(f"Message has missing required keys {missing}")
    bad = [k for k in REQUIRED_FIELDS if not isinstance(body[k], str) or not body[k].strip()]
    if bad:
        raise BadEvent(f"Message keys {bad} must be non-empty strings")
    job_id = body["job_id"].strip()
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise BadEvent(f"Message job_id {printable(job_id, 60)} is not a CTS job id (pattern {JOB_ID_PATTERN.pattern})")
    state = _key_part(body, "state")  # part of the run key when there is no trans_id
    assert state is not None  # checked non-empty above
    return JobEvent(
        job_id=job_id,
        state=state,
        body=body,
        trans_id=_key_part(body, "trans_id"),
        replay=_key_part(body, REPLAY_FIELD),
    )


def trace_of(error: BaseException) -> str:
    """``error_dlq_trace`` for an exception raised while handling a message."""
    return "".join(traceback.format_exception(error)).strip()


class DeadLetter(NamedTuple):
    """A DLQ message: ``(value, headers)``, as ``KafkaResource.publish`` takes it."""

    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def size(self) -> int:
        """Bytes the producer counts against its message limit (value + headers)."""
        return len(self.value) + sum(len(k) + len(v) for k, v in self.headers)


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", errors="backslashreplace")  # lone surrogates cannot be UTF-8


def _as_object(original: bytes | dict[str, Any] | None) -> dict[str, Any] | None:
    if isinstance(original, dict):
        return dict(original)
    try:
        parsed = json.loads((original or b"").decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _as_bytes(original: bytes | dict[str, Any] | None) -> bytes:
    if isinstance(original, dict):
        return json.dumps(original).encode("ascii")
    return original or b""


def dead_letter(
    original: bytes | dict[str, Any] | None,
    error: str,
    trace: str,
    *,
    max_bytes: int,
    redact: Redactor | None = None,
    source: str | None = None,
) -> DeadLetter:
    """The DLQ message for ``original`` (raw bytes or an event object), at most
    ``max_bytes`` (the broker's limit) including headers and framing.

    Preference, first that fits: the event object with both fields added; the original
    bytes as they came with both in the headers; those bytes cut to fit (marked). Error
    and trace give way before the original does (only for limits of a few KB).
    """
    if max_bytes < MIN_MESSAGE_BYTES:
        raise ValueError(f"a broker message limit of {max_bytes} bytes leaves no room for dead letters")
    error = clip(error, ERROR_CHARS, redact=redact)
    trace = clip(trace or error, TRACE_CHARS, redact=redact, keep_tail=TRACE_CHARS * 3 // 4) or "(no trace)"
    budget = max_bytes - RECORD_OVERHEAD_BYTES
    base = [(SOURCE_HEADER, _encoded(clip(source, 200)))] if source else []
    sizes = ((TRACE_CHARS, ERROR_CHARS), (1_000, 1_000), (200, 300), (40, 100))

    def shortened(text: str, chars: int, tail: bool = True) -> str:
        """The end of a trace names the error: keep it; an error's head says what it is."""
        return clip(text, chars, keep_tail=chars * 3 // 4 if tail else 0)

    body = _as_object(original)
    for trace_chars, error_chars in sizes if body is not None else ():
        assert body is not None
        fields = {ERROR_FIELD: shortened(error, error_chars, tail=False), TRACE_FIELD: shortened(trace, trace_chars)}
        try:
            value = json.dumps({**body, **fields}).encode("ascii")
        except (ValueError, RecursionError):
            break
        letter = DeadLetter(value, [(ERROR_FIELD, _encoded(fields[ERROR_FIELD])), *base])
        if letter.size <= budget:
            return letter

    raw = _as_bytes(original)

    def with_headers(value: bytes, error_text: str, trace_chars: int, *extra: tuple[str, bytes]) -> DeadLetter:
        return DeadLetter(
            value,
            [
                (ERROR_FIELD, _encoded(error_text)),
                (TRACE_FIELD, _encoded(shortened(trace, trace_chars))),
                *base,
                *extra,
            ],
        )

    for trace_chars, error_chars in sizes:  # forwarded as it came, error and trace in headers
        letter = with_headers(raw, shortened(error, error_chars, tail=False), trace_chars)
        if letter.size <= budget:
            return letter
    note = f"; the original message of {len(raw):,} bytes is cut to fit the broker's limit of {max_bytes:,} bytes"
    longest_mark = (TRUNCATED_HEADER, _encoded(f"original {len(raw)} bytes, first {len(raw)} kept"))
    for trace_chars, error_chars in sizes:  # the original alone is too large: cut it
        error_text = shortened(error, error_chars, tail=False) + note
        room = budget - with_headers(b"", error_text, trace_chars, longest_mark).size
        if room >= 0 or (trace_chars, error_chars) == sizes[-1]:
            kept = raw[: max(0, room)]
            mark = (TRUNCATED_HEADER, _encoded(f"original {len(raw)} bytes, first {len(kept)} kept"))
            return with_headers(kept, error_text, trace_chars, mark)
    raise AssertionError("unreachable")


def strip_dead_letter(body: dict[str, Any]) -> dict[str, Any]:
    """The original event of a dead letter (error fields removed)."""
    return {k: v for k, v in body.items() if k not in (ERROR_FIELD, TRACE_FIELD)}
