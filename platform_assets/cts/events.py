"""The CTS job-event message contract, shared by the event, failure and replay sensors.

A CTS event is a JSON object ``{"job_id", "state", "time", "trans_id"}`` (no key, one per
state transition, delivered at least once). Dead-lettered messages keep the original
fields and add ``error_dlq`` and ``error_dlq_trace`` (always both); a message that is
not a JSON object cannot carry fields, so it goes to the DLQ byte for byte and the error
travels in the Kafka headers of the same names (every DLQ message carries both headers).
"""

from __future__ import annotations

import dataclasses
import json
import re
import traceback
from typing import Any

REQUIRED_FIELDS = ("job_id", "state")
# the CTS's own job-id pattern: anything else cannot be a CTS job (and must never reach
# a URL path, a run key or a partition key)
JOB_ID_PATTERN = re.compile(r"[\w-]{1,50}", re.ASCII)
COMPLETE = "complete"
ERROR_FIELD = "error_dlq"
TRACE_FIELD = "error_dlq_trace"
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
    """One parsed state transition of a CTS job."""

    job_id: str
    state: str
    body: dict[str, Any]

    @property
    def trans_id(self) -> str | None:
        value = self.body.get("trans_id")
        return str(value) if value not in (None, "") else None

    @property
    def run_key(self) -> str:
        """Stable per (job, transition): duplicates and replays of the same delivery map
        to one run. A DLQ replay is a new delivery, so it gets its own key."""
        key = f"cts:{self.job_id}:{self.trans_id or self.state}"
        replay = self.body.get(REPLAY_FIELD)
        return f"{key}:replay:{replay}" if replay else key

    def to_json(self) -> str:
        return json.dumps(self.body, sort_keys=True)


def parse_event(value: bytes | None) -> JobEvent:
    """The event in a Kafka message value, or :class:`BadEvent` naming the problem."""
    try:
        body = json.loads((value or b"").decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise BadEvent(f"Message is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadEvent(f"Message is not a JSON object but {type(body).__name__}")
    missing = [k for k in REQUIRED_FIELDS if k not in body]
    if missing:
        raise BadEvent(f"Message has missing required keys {missing}: {_short(body)}")
    bad = [k for k in REQUIRED_FIELDS if not isinstance(body[k], str) or not body[k].strip()]
    if bad:
        raise BadEvent(f"Message keys {bad} must be non-empty strings: {_short(body)}")
    job_id = body["job_id"].strip()
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise BadEvent(
            f"Message job_id {job_id[:60]!r} is not a CTS job id (pattern {JOB_ID_PATTERN.pattern}): {_short(body)}"
        )
    return JobEvent(job_id=job_id, state=body["state"].strip(), body=body)


def trace_of(error: BaseException) -> str:
    """``error_dlq_trace`` for an exception raised while handling a message."""
    return "".join(traceback.format_exception(error)).strip()


def dead_letter(
    original: bytes | dict[str, Any] | None, error: str, trace: str
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """``(value, headers)`` of the DLQ message for ``original`` (raw bytes or an event).

    JSON objects get ``error_dlq`` and ``error_dlq_trace`` added (without mutating the
    input); anything else is forwarded unchanged. Both are always in the headers too.
    """
    trace = trace or error  # the contract requires both fields, never an empty trace
    body: dict[str, Any] | None = None
    if isinstance(original, dict):
        body = dict(original)
    else:
        try:
            parsed = json.loads((original or b"").decode("utf-8"))
            body = parsed if isinstance(parsed, dict) else None
        except (UnicodeDecodeError, ValueError):
            body = None
    headers = [(ERROR_FIELD, error.encode("utf-8")), (TRACE_FIELD, trace.encode("utf-8"))]
    if body is None:
        return (original if isinstance(original, bytes) else b""), headers
    body[ERROR_FIELD] = error
    body[TRACE_FIELD] = trace
    return json.dumps(body).encode("utf-8"), headers


def strip_dead_letter(body: dict[str, Any]) -> dict[str, Any]:
    """The original event of a dead letter (error fields removed)."""
    return {k: v for k, v in body.items() if k not in (ERROR_FIELD, TRACE_FIELD)}


def _short(body: dict[str, Any], limit: int = 300) -> str:
    text = json.dumps(body, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "..."
