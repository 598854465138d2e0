"""A contract-faithful CDM Task Service (CTS) emulator: real HTTP on 127.0.0.1.

Not product code. Tests and `python -m localdev` use it so the platform talks to the
same routes, JSON shapes and error bodies as the real CTS (kbase/cdm-task-service):

- ``GET /``                          -> ``{"service_name": "CDM Task Service", ...}``
- ``GET /admin/jobs/{id}``           -> the job document (bearer token required)
- ``PUT /admin/jobs/{id}/meta``      -> ``{"set_fields": {...}, "unset_keys": [...]}``

Errors use the CTS body ``{"error": {"httpcode", "httpstatus", "appcode", "apperror",
"message", "time", "request_id"}}``; an unknown job is appcode 40040 "No such job", a
missing token 10010, a bad token 10020.

Test helpers: :meth:`CtsEmulator.add_job`, :meth:`fail_next` (N requests answer 500),
:meth:`hang_next` (N requests stall past the client's timeout), :meth:`serve_raw` (a job
answered with arbitrary bytes, any status, optionally trickled byte by byte: what a broken
CTS or a hostile proxy would send), :attr:`meta_puts`.

Standalone: ``python -m localdev.cts_emulator --port P --token T [--jobs-file F]``;
the jobs file is a JSON list of job documents (written by the CTS demo seeder).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import json
import re
import signal
import sys
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

SERVICE_NAME = "CDM Task Service"
DEFAULT_TOKEN = "local-dev-token"

# (appcode, apperror) from cdmtaskservice/errors.py
NO_TOKEN = (10010, "No authentication token")
INVALID_TOKEN = (10020, "Invalid token")
INVALID_AUTH_HEADER = (10030, "Invalid authentication header")
REQUEST_VALIDATION_FAILED = (30010, "Request validation failed")
NOT_FOUND = (40000, "Not Found")
NO_SUCH_JOB = (40040, "No such job")

_JOB_ROUTE = re.compile(r"^/admin/jobs/([^/]+)$")
_META_ROUTE = re.compile(r"^/admin/jobs/([^/]+)/meta$")
JOB_ID_PATTERN = re.compile(r"[\w-]{1,50}", re.ASCII)  # the CTS's job id path parameter
META_VALUE_TYPES = (str, int, float, bool)  # set_fields values: JSON scalars only


@dataclasses.dataclass(frozen=True)
class RawAnswer:
    """An answer sent exactly as given (see :meth:`CtsEmulator.serve_raw`)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    trickle_seconds: float = 0.0  # spread the body (and headers, if trickle_headers) over this
    trickle_headers: bool = False


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def error_body(httpcode: int, message: str | None, app: tuple[int, str] | None = None) -> dict:
    """The CTS error body (`cdmtaskservice.app._format_error`)."""
    content: dict[str, Any] = {
        "httpcode": httpcode,
        "httpstatus": HTTPStatus(httpcode).phrase,
        "time": _now(),
        "request_id": str(uuid.uuid4()),
    }
    if app:
        content.update({"appcode": app[0], "apperror": app[1]})
    if message:
        content["message"] = message
    return {"error": content}


def job_document(
    job_id: str,
    *,
    image_name: str,
    image_digest: str = "sha256:" + "0" * 64,
    outputs: list[dict] | None = None,
    state: str = "complete",
    user: str = "demo_user",
    tag: str | None = "latest",
    input_files: list[str] | None = None,
    output_dir: str = "cts-data/out",
    params: dict | None = None,
    error: str | None = None,
    time_: str = "2024-03-24T12:00:00+00:00",
) -> dict:
    """A job document shaped like the CTS `AdminJobDetails` model.

    ``outputs`` is a list of ``{"file": "bucket/key", "crc64nvme": "<b64>"}``.
    """
    outputs = list(outputs or [])
    input_files = list(input_files or ["cts-data/in/genome1.fna"])
    states = [
        "created",
        "download_submitted",
        "job_submitting",
        "job_submitted",
        "upload_submitting",
        "upload_submitted",
        state,
    ]
    states = list(dict.fromkeys(states))  # the final state once, at the end
    image = {
        "name": image_name,
        "digest": image_digest,
        "entrypoint": ["/bin/run"],
        "refdata_id": None,
        "default_refdata_mount_point": None,
        "registered_by": "admin",
        "registered_on": time_,
    }
    if tag:
        image["tag"] = tag
    doc = {
        "id": job_id,
        "user": user,
        "state": state,
        "transition_times": [
            {"state": s, "time": time_, "trans_id": f"{job_id}-{i}", "notif_sent": True} for i, s in enumerate(states)
        ],
        "image": image,
        "job_input": {
            "cluster": "perlmutter-jaws",
            "image": f"{image_name}@{image_digest}",
            "params": params
            or {
                "input_mount_point": "/input_files",
                "output_mount_point": "/output_files",
                "positional_args": ["/input_files"],
            },
            "input_files": [{"file": f} for f in input_files],
            "output_dir": output_dir,
            "num_containers": 1,
            "cpus": 1,
            "memory": 10_000_000,
            "runtime": "PT1H",
        },
        "outputs": outputs,
        "input_file_count": len(input_files),
        "output_file_count": len(outputs),
    }
    if error is not None:
        doc["error"] = error
    return doc


class CtsEmulator:
    """A threaded HTTP server emulating the CTS admin API. Context manager."""

    def __init__(self, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0):
        self.token = token
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._jobs: dict[str, dict] = {}
        self._raw: dict[str, RawAnswer] = {}
        self._job_faults: dict[str, int] = {}  # job id -> requests still to answer 503
        self._meta: dict[str, dict] = {}
        self._faults: list[tuple[str, float]] = []  # ("500", 0) or ("hang", seconds)
        self.meta_puts: list[tuple[str, dict]] = []
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.latency_seconds = 0.0  # added to every request (concurrency tests)
        self.in_flight = 0
        self.max_in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._jobs_file: Path | None = None
        self._jobs_file_mtime: float | None = None
        self._reload_lock = threading.Lock()  # concurrent requests wait for a reload in progress

    # --- lifecycle -------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server, "emulator not started"
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        assert self._server, "emulator not started"
        return self._server.server_address[1]

    def start(self) -> CtsEmulator:
        self._server = ThreadingHTTPServer((self._host, self._port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="cts-emulator")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> CtsEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- test helpers ----------------------------------------------------------
    def add_job(self, job: dict | None = None, /, **kwargs) -> dict:
        """Register a job document (or build one with :func:`job_document` kwargs); it
        replaces a raw answer served for the same id."""
        if job is None:
            job_id = kwargs.pop("job_id", None) or uuid.uuid4().hex[:12]
            job = job_document(job_id, **kwargs)
        with self._lock:
            self._jobs[job["id"]] = copy.deepcopy(job)
            self._raw.pop(job["id"], None)
        return job

    def serve_raw(
        self,
        job_id: str,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = "application/json",
        trickle_seconds: float = 0.0,
        trickle_headers: bool = False,
    ) -> None:
        """Answer ``GET /admin/jobs/{job_id}`` with ``body`` as it is (not a job document:
        HTML, ``null``, a list, invalid UTF-8...), optionally sent byte by byte over
        ``trickle_seconds`` (and the headers too with ``trickle_headers``)."""
        with self._lock:
            self._raw[job_id] = RawAnswer(status, body, content_type, trickle_seconds, trickle_headers)

    def load_jobs_file(self, path: str | Path) -> int:
        jobs = json.loads(Path(path).read_text())
        for job in jobs:
            self.add_job(job)
        return len(jobs)

    def watch_jobs_file(self, path: str | Path) -> None:
        """Serve the jobs in ``path`` and reload them whenever the file changes.

        `python -m localdev` starts the emulator before the demo seeder writes the file.
        """
        self._jobs_file = Path(path)
        self._reload_jobs_file()

    def _reload_jobs_file(self) -> None:
        if self._jobs_file is None or not self._jobs_file.exists():
            return
        with self._reload_lock:
            mtime = self._jobs_file.stat().st_mtime
            if mtime != self._jobs_file_mtime:
                self.load_jobs_file(self._jobs_file)
                self._jobs_file_mtime = mtime  # only once loaded: no request sees a half-loaded file

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next ``n`` requests answer ``status`` with a CTS 5xx error body."""
        with self._lock:
            self._faults.extend([(str(status), 0.0)] * n)

    def hang_next(self, n: int = 1, seconds: float = 5.0) -> None:
        """The next ``n`` requests stall ``seconds`` before answering (client timeouts)."""
        with self._lock:
            self._faults.extend([("hang", seconds)] * n)

    def fail_job_next(self, job_id: str, n: int = 1) -> None:
        """The next ``n`` requests about ``job_id`` answer 503 (others are served)."""
        with self._lock:
            self._job_faults[job_id] = self._job_faults.get(job_id, 0) + n

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._job_faults.clear()

    def meta(self, job_id: str) -> dict:
        """The processing metadata recorded on a job so far."""
        with self._lock:
            return dict(self._meta.get(job_id, {}))

    # --- request handling (called from server threads) --------------------------
    def _take_fault(self) -> tuple[str, float] | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _authorize(self, header: str | None) -> tuple[int, dict] | None:
        if not header:
            return 401, error_body(401, "Authorization header required", NO_TOKEN)
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return 401, error_body(401, "Authorization header requires Bearer scheme", INVALID_AUTH_HEADER)
        if credentials.strip() != self.token:
            return 401, error_body(401, "Invalid token", INVALID_TOKEN)
        return None

    def _handle(self, method: str, path: str, auth: str | None, body: bytes) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency_seconds:
                time.sleep(self.latency_seconds)
            return self._route(method, path, auth, body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _route(self, method: str, path: str, auth: str | None, body: bytes) -> tuple[int, Any]:
        fault = self._take_fault()
        if fault:
            kind, seconds = fault
            if kind == "hang":
                time.sleep(seconds)
            else:
                code = int(kind)
                return code, error_body(code, "An unexpected error occurred")
        self._reload_jobs_file()
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if method == "GET" and path == "/":
            return 200, {
                "service_name": SERVICE_NAME,
                "version": "0.0.0-emulator",
                "git_hash": "emulator",
                "server_time": _now(),
            }
        job_match, meta_match = _JOB_ROUTE.match(path), _META_ROUTE.match(path)
        if not (job_match and method == "GET") and not (meta_match and method == "PUT"):
            return 404, error_body(404, "Not Found", NOT_FOUND)
        denied = self._authorize(auth)
        if denied:
            return denied
        route = job_match or meta_match
        assert route is not None  # one of them matched, checked above
        job_id = unquote(route.group(1))
        if not JOB_ID_PATTERN.fullmatch(job_id):
            return 400, error_body(
                400, f"job_id: String should match pattern '^{JOB_ID_PATTERN.pattern}$'", REQUEST_VALIDATION_FAILED
            )
        with self._lock:
            job = copy.deepcopy(self._jobs.get(job_id))
            raw = self._raw.get(job_id)
            job_fault = self._job_faults.get(job_id, 0)
            if job_fault:
                self._job_faults[job_id] = job_fault - 1
        if job_fault:
            return 503, error_body(503, "Service temporarily unavailable")
        if raw is not None and job_match:
            return raw.status, raw
        if job is None:
            return 404, error_body(404, f"No job with ID '{job_id}' exists", NO_SUCH_JOB)
        if job_match:
            return 200, job
        try:
            update = json.loads(body or b"{}")
            set_fields = update.get("set_fields") or {}
            unset_keys = update.get("unset_keys") or []
            if not isinstance(set_fields, dict) or not isinstance(unset_keys, list):
                raise ValueError("set_fields must be an object and unset_keys a list")
            bad = [k for k, v in set_fields.items() if not k or v is None or not isinstance(v, META_VALUE_TYPES)]
            if bad or not all(isinstance(k, str) and k for k in unset_keys):
                raise ValueError(
                    f"set_fields values must be strings, numbers or booleans "
                    f"and keys non-empty (bad: {bad}); unset_keys strings"
                )
        except (ValueError, AttributeError) as e:
            return 400, error_body(400, f"Invalid meta update: {e}", REQUEST_VALIDATION_FAILED)
        with self._lock:
            meta = self._meta.setdefault(job_id, {})
            meta.update(set_fields)
            for key in unset_keys:
                meta.pop(key, None)
            self.meta_puts.append((job_id, {"set_fields": set_fields, "unset_keys": unset_keys}))
        return 204, None


def _handler_for(emulator: CtsEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY: with Nagle on, delayed ACKs stall every small answer ~40 ms, and a
        # benchmark against the emulator would time the stall instead of the client
        disable_nagle_algorithm = True

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                code, payload = emulator._handle(method, self.path, self.headers.get("Authorization"), body)
            except Exception as e:  # an emulator bug must look like a CTS 500, not hang
                code, payload = 500, error_body(500, f"emulator error: {e}")
            try:
                if isinstance(payload, RawAnswer):
                    self._send_raw(payload)
                    return
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(code)
                if payload is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def _send_raw(self, answer: RawAnswer) -> None:
            phrase = self.responses.get(answer.status, ("",))[0]
            head = (
                f"HTTP/1.1 {answer.status} {phrase}\r\nContent-Type: {answer.content_type}\r\n"
                f"Content-Length: {len(answer.body)}\r\n\r\n"
            ).encode("latin-1")
            if not answer.trickle_seconds:
                self.wfile.write(head + answer.body)
                return
            trickled = (head if answer.trickle_headers else b"") + answer.body
            if not answer.trickle_headers:
                self.wfile.write(head)
                self.wfile.flush()
            pause = answer.trickle_seconds / max(1, len(trickled))
            for i in range(len(trickled)):
                self.wfile.write(trickled[i : i + 1])
                self.wfile.flush()
                time.sleep(pause)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args) -> None:  # quiet; never log headers
            pass

    return Handler


def process_command(port: int, token: str, jobs_file: str | Path) -> list[str]:
    """The command that runs this emulator in its own process (`make dev`, tests, benchmarks)."""
    return [
        sys.executable,
        "-m",
        "localdev.cts_emulator",
        "--port",
        str(port),
        "--token",
        token,
        "--jobs-file",
        str(jobs_file),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the CTS emulator (local development only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--jobs-file", type=Path, help="JSON list of job documents to serve")
    args = parser.parse_args(argv)
    emulator = CtsEmulator(token=args.token, host=args.host, port=args.port).start()
    if args.jobs_file:
        emulator.watch_jobs_file(args.jobs_file)
    print(f"CTS emulator listening on {emulator.url}", flush=True)
    # stop on SIGTERM even when started by a process that ignores it (the disposition is inherited)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
