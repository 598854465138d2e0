"""Bounded, redacted copies of external text (CTS bodies, event fields, error messages).

Anything that came from outside (a CTS error body, a Kafka message, a report value) may
be huge or may quote a secret. Before such text reaches a log line, run metadata, a run
tag or a dead letter it goes through :func:`clip`: **redacted first, then cut**, so a
secret is never split by the cut into a piece the redaction no longer recognizes. The cut
says what it removed, so a reader knows the text is incomplete.
"""

from __future__ import annotations

from collections.abc import Callable

Redactor = Callable[[str], str]


def clip(text: str, limit: int, *, redact: Redactor | None = None, keep_tail: int = 0) -> str:
    """``text`` redacted, then at most ``limit`` characters, a marker saying how many were
    cut included. ``keep_tail`` characters of the end are kept too (the end of a
    traceback names the error)."""
    if redact is not None:
        text = redact(text)
    if len(text) <= limit:
        return text
    longest = f" [... {len(text):,} of {len(text):,} characters cut ...] "
    room = limit - len(longest)
    if room <= 0:
        return text[: max(0, limit)]
    tail = min(keep_tail, room // 2)
    head = room - tail
    marker = f" [... {len(text) - head - tail:,} of {len(text):,} characters cut ...] "
    return text[:head] + marker + (text[-tail:] if tail else "")


def printable(value: object, limit: int) -> str:
    """A short, printable description of an untrusted value for an error message: its
    ``repr`` (escapes control characters, NUL and lone surrogates), clipped."""
    return clip(repr(value), limit)
