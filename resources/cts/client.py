"""HTTP client for the CDM Task Service (CTS) admin API.

Only what the platform needs: fetch job documents (singly or many, with bounded
concurrency) and record processing state on a job (``PUT /admin/jobs/{id}/meta``).
Transient failures (5xx, 429, timeouts, connection errors) are retried with exponential
backoff and full jitter; an unknown job (CTS appcode 40040) raises
:class:`CtsJobNotFound` at once. The admin token is sent as a bearer header and never
appears in logs, errors or metadata.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import dagster as dg
from pydantic import PrivateAttr

from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_import("httpx")  # only when a request is made

log = logging.getLogger(__name__)

NO_SUCH_JOB_APPCODE = 40040
# an HTTP header value: visible ASCII only (a stray newline would make httpx raise an
# error whose text contains the whole header, i.e. the token)
_TOKEN_PATTERN = re.compile(r"[\x21-\x7e]+")
REDACTED = "<redacted>"


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
    """The client configuration is unusable (e.g. a malformed token); never retried."""


def _error_detail(response: httpx.Response) -> tuple[int | None, str]:
    """(appcode, readable text) from a CTS error body; tolerant of non-JSON bodies."""
    try:
        err = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return None, response.text[:200]
    text = "; ".join(str(err[k]) for k in ("apperror", "message") if err.get(k))
    return err.get("appcode"), text or response.reason_phrase


class CtsClient(dg.ConfigurableResource):
    """CTS admin API client. ``url``/``token`` come from ``CTS_URL``/``CTS_ADMIN_TOKEN``."""

    url: str
    token: str
    timeout_seconds: float = 10.0
    max_attempts: int = 5
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 8.0

    _client: Any = PrivateAttr(default=None)  # httpx.Client, created on first use

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

    def _redact(self, text: str) -> str:
        """``text`` with the token (as configured and stripped) replaced: error bodies,
        transport errors and URLs must never carry it into logs, errors or the DLQ."""
        for secret in {self.token or "", (self.token or "").strip()}:
            if len(secret) >= 4:
                text = text.replace(secret, REDACTED)
        return text

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.url.rstrip("/"),
                headers={"Authorization": f"Bearer {self._bearer_token()}"},
                timeout=self.timeout_seconds,
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            )
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

    def _request(
        self, method: str, path: str, what: str, deadline: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One CTS call with retries. ``deadline`` (``time.monotonic()`` value) bounds the
        whole call, retries included: past it :class:`CtsUnavailable` is raised."""
        last_problem = "not attempted: deadline already reached"
        for attempt in range(self.max_attempts):
            if attempt:
                pause = self._backoff(attempt - 1)
                if deadline is not None:
                    pause = min(pause, max(0.0, deadline - time.monotonic()))
                time.sleep(pause)
            timeout = self.timeout_seconds
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0.05:
                    raise CtsDeadlineReached(
                        self._redact(f"{what}: deadline reached after {attempt} attempt(s); last error: {last_problem}")
                    )
            try:
                response = self._http().request(method, path, timeout=timeout, **kwargs)
            except httpx.TimeoutException as e:
                last_problem = f"timeout after {timeout:.1f}s ({type(e).__name__})"
            except httpx.ProtocolError as e:
                # its text may quote request headers (the token): only the class name
                last_problem = f"HTTP protocol error ({type(e).__name__})"
            except httpx.TransportError as e:
                last_problem = self._redact(f"connection error ({type(e).__name__}: {e})")
            else:
                if response.status_code < 400:
                    return response
                appcode, detail = _error_detail(response)
                detail = self._redact(detail)
                if response.status_code >= 500 or response.status_code == 429:
                    last_problem = f"HTTP {response.status_code} ({detail})"
                elif appcode == NO_SUCH_JOB_APPCODE:
                    raise CtsJobNotFound(
                        self._redact(f"{what}: no such job in the CTS ({detail})"), response.status_code, appcode
                    )
                else:
                    raise CtsError(
                        self._redact(f"{what}: CTS refused with HTTP {response.status_code} ({detail})"),
                        response.status_code,
                        appcode,
                    )
            log.warning("CTS %s failed (attempt %d/%d): %s", what, attempt + 1, self.max_attempts, last_problem)
        raise CtsUnavailable(
            self._redact(
                f"{what}: CTS at {self.url} unavailable after {self.max_attempts} attempts; last error: {last_problem}"
            )
        )

    # --- API -----------------------------------------------------------------
    def get_job(self, job_id: str, deadline: float | None = None) -> dict:
        """The job document of ``job_id`` (``GET /admin/jobs/{id}``)."""
        return self._request(
            "GET", f"/admin/jobs/{quote(job_id, safe='')}", f"get job {job_id!r}", deadline=deadline
        ).json()

    def get_jobs(
        self, job_ids: Iterable[str], max_concurrency: int = 8, deadline: float | None = None
    ) -> dict[str, dict | Exception]:
        """Fetch many jobs with at most ``max_concurrency`` requests in flight.

        Each value is the job document or the exception for that job (e.g.
        :class:`CtsJobNotFound`), so one bad job never hides the others.
        """
        ids = list(dict.fromkeys(job_ids))
        if ids:
            self._http()  # a configuration error fails the whole call, not each job

        def fetch(job_id: str) -> dict | Exception:
            try:
                return self.get_job(job_id, deadline=deadline)
            except CtsError as e:
                return e

        if not ids:
            return {}
        with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(ids)))) as pool:
            return dict(zip(ids, pool.map(fetch, ids), strict=True))

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
            json=body,
        )
