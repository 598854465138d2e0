"""An HTTP connection pool that enforces a total wall-clock deadline per request.

HTTP timeouts bound each single socket operation: a server (or proxy) that sends one
byte per second keeps a request alive forever without ever tripping a read timeout (a
1.6 KB job document trickled over 40 s kept a 6 s sensor tick running 44 s). Here every
socket operation of the calling thread is bounded by the time left until the deadline
set with :func:`deadline_scope`, so connecting, sending, response headers and the body
together finish by the deadline or fail with ``httpcore.ReadTimeout``/``ConnectTimeout``.

The pool is httpcore's, the transport layer of httpx, used directly: a request through
it costs ~0.5 ms of CPU against ~0.9 ms through ``httpx.Client`` (measured against the
CTS emulator, 2,000 sequential GETs), and a sensor tick or an import run makes thousands
(docs/cts.md). Imported on first use by :class:`resources.cts.client.CtsClient`
(httpcore stays out of code-location load).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import ssl
import time
import typing
import urllib.parse
import urllib.request
from collections.abc import Iterator

import certifi
import httpcore

# the deadline (time.monotonic()) of the request the current thread is making
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("cts_request_deadline", default=None)


@contextlib.contextmanager
def deadline_scope(deadline: float) -> Iterator[None]:
    """Bound every socket operation made by this thread inside the block by ``deadline``."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("request deadline reached")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend):
        self._backend = backend

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One verifying SSL context per process: loading the CA bundle costs ~0.3 s, and a
    sensor builds a new client (resource) for every tick. The CAs of ``SSL_CERT_FILE`` or
    ``SSL_CERT_DIR`` where set (a company's own CA), else certifi's, as httpx chose."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())


def environment_proxy(url: str) -> tuple[str, tuple[str, str] | None] | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``/
    ``ALL_PROXY``, unless ``NO_PROXY`` covers the host), as httpx's default ``trust_env``
    chose it: (proxy URL without credentials, (user, password) or None), or None."""
    proxies = urllib.request.getproxies_environment()
    target = urllib.parse.urlsplit(url)
    if not proxies or urllib.request.proxy_bypass(target.hostname or ""):
        return None
    proxy = proxies.get(target.scheme) or proxies.get("all")
    if not proxy:
        return None
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    auth = None
    if parts.username is not None:
        auth = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}", auth


def deadline_pool(url: str, max_connections: int, max_keepalive_connections: int) -> httpcore.ConnectionPool:
    """A connection pool for ``url`` whose connections all go through the deadline
    backend: direct, or through the proxy the environment names for it."""
    options: dict[str, typing.Any] = {
        "ssl_context": _ssl_context(),
        "max_connections": max_connections,
        "max_keepalive_connections": max_keepalive_connections,
        "network_backend": _DeadlineBackend(httpcore.SyncBackend()),
    }
    proxy = environment_proxy(url)
    if proxy is not None:
        proxy_url, auth = proxy
        return httpcore.HTTPProxy(proxy_url=proxy_url, proxy_auth=auth, **options)
    return httpcore.ConnectionPool(**options)
