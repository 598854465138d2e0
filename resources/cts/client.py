"""HTTP client for the CDM Task Service (CTS) admin API.

Only what the platform needs: fetch job documents (singly or many, with bounded
concurrency) and record processing state on a job (``PUT /admin/jobs/{id}/meta``).
Transient failures (5xx, 429, timeouts, connection errors) are retried with exponential
backoff and full jitter; an unknown job (CTS appcode 40040) raises
:class:`CtsJobNotFound` at once, an answer that is no job document (HTML, ``null``, a
list, too large) :class:`CtsBadResponse`. Each attempt has a total wall-clock limit that
holds while the body is read (``deadline_http``), and a caller's deadline bounds the
whole call. The admin token is sent as a bearer header and never appears in logs,
errors or metadata: external text is redacted whole, then clipped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import dagster as dg
from pydantic import PrivateAttr

from resources.cts.concurrency import call_each
from resources.cts.text import clip, printable
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import httpcore

    from resources.cts import deadline_http
else:
    httpcore = lazy_import("httpcore")  # only when a request is made
    deadline_http = lazy_import("resources.cts.deadline_http")  # imports httpcore: on first request too

log = logging.getLogger(__name__)

NO_SUCH_JOB_APPCODE = 40040
# an HTTP header value: visible ASCII only (a stray newline would make the HTTP library
# raise an error whose text contains the whole header, i.e. the token)
_TOKEN_PATTERN = re.compile(r"[\x21-\x7e]+")
REDACTED = "<redacted>"
USER_AGENT = b"open-data-platform-cts-client"
CREDENTIALS_REFUSED = {401, 403}
ERROR_BODY_BYTES = 64 * 1024  # of an error answer, parsed for its detail
ERROR_DETAIL_CHARS = 500  # of that detail, in exceptions and logs (after redaction)
# the CTS is shared: one call never has more requests in flight (how many below this pays
# is measured per call, resources/cts/concurrency.py)
MAX_IN_FLIGHT = 8


class CtsError(Exception):
    """The CTS answered with an error that retrying will not fix."""

    def __init__(self, message: str, httpcode: int | None = None, appcode: int | None = None):
        super().__init__(message)
        self.httpcode = httpcode
        self.appcode = appcode


class CtsJobNotFound(CtsError):
    """The CTS has no such job (appcode 40040)."""


class CtsUnavailable(CtsError):
    """The CTS could not be reached or kept failing after all retries."""


class CtsDeadlineReached(CtsUnavailable):
    """The caller's deadline passed before the CTS answered (retries included)."""


class CtsConfigError(CtsError):
    """The client configuration is unusable (a malformed token) or the CTS refuses our
    credentials (HTTP 401/403); never retried, and about the setup, not one job."""


class CtsBadResponse(CtsError):
    """The CTS (or something in front of it) answered a job request with something that
    is not a job document: not JSON, not a JSON object, or too large. A per-job error."""


def _error_detail(body: bytes, reason: str) -> tuple[int | None, str]:
    """(appcode, readable text) from a CTS error body; tolerant of non-JSON bodies.

    The text is external: callers redact it before clipping (see ``CtsClient._detail``)."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None, body.decode("utf-8", errors="replace")
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(err, dict):
        return None, body.decode("utf-8", errors="replace")
    text = "; ".join(str(err[k]) for k in ("apperror", "message") if err.get(k))
    appcode = err.get("appcode")
    return (appcode if isinstance(appcode, int) else None), text or reason


@dataclasses.dataclass(frozen=True)
class CtsAnswer:
    """A CTS response read whole within its deadline and size limit."""

    status_code: int
    reason: str
    content_type: str
    body: bytes


class CtsClient(dg.ConfigurableResource):
    """CTS admin API client. ``url``/``token`` come from ``CTS_URL``/``CTS_ADMIN_TOKEN``.

    ``timeout_seconds`` bounds each attempt as a whole (connect, headers and body, however
    slowly they trickle in); ``max_response_bytes`` bounds what one answer may weigh.
    """

    url: str
    token: str
    timeout_seconds: float = 10.0
    max_attempts: int = 5
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 8.0
    max_response_bytes: int = 32 * 1024 * 1024

    _client: Any = PrivateAttr(default=None)  # httpcore.ConnectionPool, created on first use
    _headers: Any = PrivateAttr(default=None)  # the bearer header, checked once

    # --- plumbing ------------------------------------------------------------
    def _bearer_token(self) -> str:
        """The token without surrounding whitespace (secrets files often end in a newline);
        a token that still is no valid header value is refused without echoing it."""
        token = (self.token or "").strip()
        if not _TOKEN_PATTERN.fullmatch(token):
            raise CtsConfigError(
                "CTS_ADMIN_TOKEN is empty or contains whitespace or "
                "control characters; it cannot be sent as a bearer token"
            )
        return token

    def redact(self, text: str) -> str:
        """``text`` with the token (as configured and stripped) replaced: error bodies,
        transport errors and URLs must never carry it into logs, errors or the DLQ.
        Applied to the whole text, before any clipping (``resources.cts.text.clip``)."""
        for secret in {self.token or "", (self.token or "").strip()}:
            if len(secret) >= 4:
                text = text.replace(secret, REDACTED)
        return text

    def _http(self) -> httpcore.ConnectionPool:
        if self._client is None:
            self._headers = [
                (b"Authorization", f"Bearer {self._bearer_token()}".encode("ascii")),
                (b"User-Agent", USER_AGENT),  # gateways and firewalls may refuse requests without one
            ]
            self._client = deadline_http.deadline_pool(self.url, max_connections=32, max_keepalive_connections=16)
        return self._client

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        return random.uniform(0, min(self.backoff_max_seconds, self.backoff_base_seconds * 2**attempt))

    def _exchange(self, method: str, path: str, deadline: float, limit: int, body: Any = None) -> CtsAnswer:
        """One HTTP exchange, finished (body included) by ``deadline`` or failed with an
        httpcore timeout. ``body`` is sent as JSON. An answer over ``limit`` bytes is cut
        there (``truncated`` answers are only used for error details)."""
        pool = self._http()
        headers = list(self._headers)
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers.append((b"Content-Type", b"application/json"))
        left = max(0.0, deadline - time.monotonic())
        timeouts = {"connect": left, "read": left, "write": left, "pool": left}
        url = self.url.rstrip("/") + path
        with (
            deadline_http.deadline_scope(deadline),
            pool.stream(method, url, headers=headers, content=content, extensions={"timeout": timeouts}) as r,
        ):
            chunks, size = [], 0
            for chunk in r.iter_stream():
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    break
            content_type = next((v for k, v in r.headers if k.lower() == b"content-type"), b"")
            return CtsAnswer(
                r.status,
                r.extensions.get("reason_phrase", b"").decode("latin-1"),
                content_type.decode("latin-1"),
                b"".join(chunks),
            )

    def _detail(self, answer: CtsAnswer) -> tuple[int | None, str]:
        appcode, text = _error_detail(answer.body[:ERROR_BODY_BYTES], answer.reason)
        return appcode, clip(text, ERROR_DETAIL_CHARS, redact=self.redact)

    def _request(self, method: str, path: str, what: str, deadline: float | None = None, body: Any = None) -> CtsAnswer:
        """One CTS call with retries. Each attempt is bounded by ``timeout_seconds`` as a
        whole; ``deadline`` (``time.monotonic()`` value) bounds the whole call, retries
        included: past it :class:`CtsDeadlineReached` is raised."""
        last_problem = "not attempted: deadline already reached"
        for attempt in range(self.max_attempts):
            if attempt:
                pause = self._backoff(attempt - 1)
                if deadline is not None:
                    pause = min(pause, max(0.0, deadline - time.monotonic()))
                time.sleep(pause)
            attempt_deadline = time.monotonic() + self.timeout_seconds
            if deadline is not None:
                attempt_deadline = min(attempt_deadline, deadline)
                if attempt_deadline - time.monotonic() <= 0.05:
                    raise CtsDeadlineReached(
                        self.redact(f"{what}: deadline reached after {attempt} attempt(s); last error: {last_problem}")
                    )
            try:
                answer = self._exchange(method, path, attempt_deadline, self.max_response_bytes, body)
            except httpcore.TimeoutException as e:
                last_problem = (
                    f"no complete answer within {self.timeout_seconds:g}s or the deadline ({type(e).__name__})"
                )
            except httpcore.ProtocolError as e:
                # its text may quote request headers (the token): only the class name
                last_problem = f"HTTP protocol error ({type(e).__name__})"
            except (
                httpcore.NetworkError,
                httpcore.ProxyError,
                httpcore.UnsupportedProtocol,
                httpcore.ConnectionNotAvailable,
            ) as e:
                last_problem = clip(f"connection error ({type(e).__name__}: {e})", 500, redact=self.redact)
            else:
                if answer.status_code < 400:
                    if len(answer.body) > self.max_response_bytes:
                        raise CtsBadResponse(
                            f"{what}: the CTS answer is larger than {self.max_response_bytes:,} bytes "
                            "(CtsClient.max_response_bytes)",
                            answer.status_code,
                        )
                    return answer
                appcode, detail = self._detail(answer)
                if answer.status_code >= 500 or answer.status_code == 429:
                    last_problem = f"HTTP {answer.status_code} ({detail})"
                elif appcode == NO_SUCH_JOB_APPCODE:
                    raise CtsJobNotFound(
                        self.redact(f"{what}: no such job in the CTS ({detail})"), answer.status_code, appcode
                    )
                else:
                    # 401/403: our credentials are refused, for every job alike
                    refusal = CtsConfigError if answer.status_code in CREDENTIALS_REFUSED else CtsError
                    raise refusal(
                        self.redact(f"{what}: CTS refused with HTTP {answer.status_code} ({detail})"),
                        answer.status_code,
                        appcode,
                    )
            log.warning("CTS %s failed (attempt %d/%d): %s", what, attempt + 1, self.max_attempts, last_problem)
        raise CtsUnavailable(
            self.redact(
                f"{what}: CTS at {self.url} unavailable after {self.max_attempts} attempts; last error: {last_problem}"
            )
        )

    # --- API -----------------------------------------------------------------
    def get_job(self, job_id: str, deadline: float | None = None) -> dict:
        """The job document of ``job_id`` (``GET /admin/jobs/{id}``)."""
        what = f"get job {job_id!r}"
        answer = self._request("GET", f"/admin/jobs/{quote(job_id, safe='')}", what, deadline=deadline)
        try:
            document = json.loads(answer.body)
        except (ValueError, RecursionError) as e:
            start = printable(self.redact(answer.body[:400].decode("utf-8", errors="replace")), 80)
            raise CtsBadResponse(
                f"{what}: the CTS answered HTTP {answer.status_code} with a body that is not JSON "
                f"({type(e).__name__}; {len(answer.body):,} bytes of {answer.content_type or 'unknown type'}, "
                f"starting {start})",
                answer.status_code,
            ) from None
        if not isinstance(document, dict):
            raise CtsBadResponse(
                f"{what}: the CTS answered with a JSON {type(document).__name__}, not a job document (object)",
                answer.status_code,
            )
        return document

    def get_jobs(
        self, job_ids: Iterable[str], max_concurrency: int | None = None, deadline: float | None = None
    ) -> dict[str, dict | Exception]:
        """Fetch many jobs with at most ``max_concurrency`` (default ``MAX_IN_FLIGHT``)
        requests in flight.

        Each value is the job document or the exception for that job (e.g.
        :class:`CtsJobNotFound`, :class:`CtsBadResponse`, whatever else fetching it
        raised), so one bad job never hides or breaks the others.
        """
        return self._each(list(dict.fromkeys(job_ids)), lambda job_id: self.get_job(job_id, deadline), max_concurrency)

    def set_meta_many(
        self,
        job_ids: Iterable[str],
        set_fields: dict[str, Any],
        unset_keys: Iterable[str] = (),
        max_concurrency: int | None = None,
        deadline: float | None = None,
    ) -> dict[str, Exception | None]:
        """``set_meta`` on many jobs at once; per job ``None`` or the exception."""
        unset = list(unset_keys)
        return self._each(
            list(dict.fromkeys(job_ids)),
            lambda job_id: self.set_meta(job_id, set_fields, unset, deadline=deadline),
            max_concurrency,
        )

    def _each(self, job_ids: list[str], call: Callable[[str], Any], max_concurrency: int | None) -> dict[str, Any]:
        """``call`` for every job, the result or the exception per job, with at most
        ``max_concurrency`` (never more than ``MAX_IN_FLIGHT``) in flight; how many is
        measured as the call goes (:func:`~resources.cts.concurrency.call_each`)."""
        if not job_ids:
            return {}
        self._http()  # a configuration error fails the whole call, not each job
        cap = MAX_IN_FLIGHT if max_concurrency is None else max(1, min(max_concurrency, MAX_IN_FLIGHT))
        return call_each(job_ids, call, cap)

    def set_meta(
        self,
        job_id: str,
        set_fields: dict[str, Any] | None = None,
        unset_keys: Iterable[str] = (),
        deadline: float | None = None,
    ) -> None:
        """Record processing state on a job (``PUT /admin/jobs/{id}/meta``)."""
        body = {"set_fields": dict(set_fields or {}), "unset_keys": list(unset_keys)}
        self._request(
            "PUT",
            f"/admin/jobs/{quote(job_id, safe='')}/meta",
            f"set meta on job {job_id!r}",
            deadline=deadline,
            body=body,
        )
