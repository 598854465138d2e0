"""CtsClient against the CTS emulator over real HTTP: retries, errors, concurrency."""

from __future__ import annotations

import base64
import http.client
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest

from platform_assets.cts.importers import checkm2
from resources.cts.client import USER_AGENT, CtsClient, CtsConfigError, CtsError, CtsJobNotFound, CtsUnavailable

IMAGE = checkm2.IMPORTER.image_name


def client_for(emulator, **overrides) -> CtsClient:
    settings = dict(
        url=emulator.url,
        token=emulator.token,
        timeout_seconds=1.0,
        max_attempts=4,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.05,
    )
    settings.update(overrides)
    return CtsClient(**settings)


def test_service_info_and_job_document(cts_emulator):
    cts_emulator.add_job(
        job_id="j1", image_name=IMAGE, outputs=[{"file": "bkt/out/quality_report.tsv", "crc64nvme": "AAAAAAAAAAA="}]
    )
    assert httpx.get(cts_emulator.url + "/").json()["service_name"] == "CDM Task Service"
    client = client_for(cts_emulator)
    job = client.get_job("j1")
    assert job["id"] == "j1" and job["state"] == "complete"
    assert job["image"]["name"] == IMAGE and job["outputs"][0]["file"].startswith("bkt/")
    assert {t["state"] for t in job["transition_times"]} >= {"created", "complete"}


def test_retries_500s_then_succeeds(cts_emulator):
    cts_emulator.add_job(job_id="j1", image_name=IMAGE)
    cts_emulator.fail_next(3)
    assert client_for(cts_emulator).get_job("j1")["id"] == "j1"
    assert cts_emulator.requests == [("GET", "/admin/jobs/j1")] * 4


def test_retries_timeouts_then_succeeds(cts_emulator):
    cts_emulator.add_job(job_id="j1", image_name=IMAGE)
    cts_emulator.hang_next(1, seconds=2.0)
    client = client_for(cts_emulator, timeout_seconds=0.5)
    assert client.get_job("j1")["id"] == "j1"
    assert len(cts_emulator.requests) == 2


def test_retries_exhausted_raise_cts_unavailable_without_the_token(cts_emulator, caplog):
    cts_emulator.add_job(job_id="j1", image_name=IMAGE)
    cts_emulator.fail_next(10)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CtsUnavailable, match=r"after 4 attempts.*HTTP 500") as raised:
        client_for(cts_emulator).get_job("j1")
    assert len(cts_emulator.requests) == 4
    assert cts_emulator.token not in str(raised.value)
    assert cts_emulator.token not in caplog.text
    assert "attempt 1/4" in caplog.text


def test_connection_refused_is_unavailable(cts_emulator):
    url = cts_emulator.url
    cts_emulator.stop()
    with pytest.raises(CtsUnavailable, match="connection error"):
        CtsClient(url=url, token="t", max_attempts=2, backoff_base_seconds=0.01).get_job("j1")


def test_unknown_job_raises_not_found_without_retrying(cts_emulator):
    with pytest.raises(CtsJobNotFound, match="No such job") as raised:
        client_for(cts_emulator).get_job("nope")
    assert raised.value.appcode == 40040 and raised.value.httpcode == 404
    assert len(cts_emulator.requests) == 1


def test_bad_token_is_a_clear_non_retried_error(cts_emulator):
    cts_emulator.add_job(job_id="j1", image_name=IMAGE)
    with pytest.raises(CtsConfigError, match="HTTP 401.*Invalid token") as raised:
        client_for(cts_emulator, token="wrong").get_job("j1")
    assert not isinstance(raised.value, CtsUnavailable)
    assert len(cts_emulator.requests) == 1


def test_get_jobs_bounded_concurrency_and_per_job_errors(cts_emulator):
    ids = [f"j{i}" for i in range(40)]
    for job_id in ids:
        cts_emulator.add_job(job_id=job_id, image_name=IMAGE)
    # a far CTS: one request in flight at first, more while that pays, never over the cap
    cts_emulator.latency_seconds = 0.05
    jobs = client_for(cts_emulator).get_jobs([*ids, "missing", "j0"], max_concurrency=3)
    assert list(jobs) == [*ids, "missing"]  # duplicates fetched once, order kept
    assert all(jobs[j]["id"] == j for j in ids)
    assert isinstance(jobs["missing"], CtsJobNotFound)
    assert 2 <= cts_emulator.max_in_flight <= 3


def test_one_hung_answer_does_not_hold_back_the_jobs_behind_it(cts_emulator):
    """A call starts with one request in flight; the first job's answer hangs past the
    caller's deadline. One more request goes in flight after a second without progress,
    so every other job is fetched and only the hung one fails (with a fixed single
    request in flight, all of them would hit the deadline behind it)."""
    import time

    from resources.cts.client import CtsDeadlineReached

    ids = [f"j{i}" for i in range(30)]
    for job_id in ids:
        cts_emulator.add_job(job_id=job_id, image_name=IMAGE)
    cts_emulator.hang_next(1, seconds=8.0)
    client = client_for(cts_emulator, timeout_seconds=10.0)
    jobs = client.get_jobs(ids, deadline=time.monotonic() + 4.0)
    failed = [job for job, answer in jobs.items() if not isinstance(answer, dict)]
    assert failed == ["j0"]
    assert isinstance(jobs["j0"], CtsDeadlineReached)


def test_what_ends_a_worker_and_is_no_jobs_error_fails_the_call(cts_emulator, monkeypatch):
    """An exception is one job's answer; anything else (SystemExit, KeyboardInterrupt)
    raised while fetching ends the whole call with that, never a KeyError or a hang."""
    ids = [f"j{i}" for i in range(5)]
    for job_id in ids:
        cts_emulator.add_job(job_id=job_id, image_name=IMAGE)
    client = client_for(cts_emulator)
    fetch = CtsClient.get_job

    def get_job(self, job_id, deadline=None):
        if job_id == "j2":
            raise SystemExit("stopping")
        return fetch(self, job_id, deadline)

    monkeypatch.setattr(CtsClient, "get_job", get_job)
    with pytest.raises(SystemExit, match="stopping"):
        client.get_jobs(ids)


def test_set_meta_sets_and_unsets_fields(cts_emulator):
    cts_emulator.add_job(job_id="j1", image_name=IMAGE)
    client = client_for(cts_emulator)
    client.set_meta("j1", {"odp_import_start": "t0", "odp_import_error": "boom"})
    client.set_meta("j1", {"odp_import_complete": "t1"}, unset_keys=["odp_import_error"])
    assert cts_emulator.meta("j1") == {"odp_import_start": "t0", "odp_import_complete": "t1"}
    assert [put for _, put in cts_emulator.meta_puts][1] == {
        "set_fields": {"odp_import_complete": "t1"},
        "unset_keys": ["odp_import_error"],
    }
    with pytest.raises(CtsJobNotFound):
        client.set_meta("nope", {"x": "y"})


def test_token_with_trailing_newline_is_stripped_and_never_echoed(cts_emulator, caplog):
    """A secret file's trailing newline made httpx raise an error quoting the header."""
    cts_emulator.add_job(job_id="j1", image_name=IMAGE)
    caplog.set_level(logging.DEBUG)
    client = client_for(cts_emulator, token=cts_emulator.token + "\n")
    assert client.get_job("j1")["id"] == "j1"
    assert cts_emulator.token not in caplog.text


@pytest.mark.parametrize("token", ["secret-token-123\nX-Injected: 1", "secret token 123", ""])
def test_malformed_token_fails_at_once_without_echoing_it(cts_emulator, caplog, token):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CtsConfigError, match="CTS_ADMIN_TOKEN") as raised:
        client_for(cts_emulator, token=token).get_job("j1")
    assert cts_emulator.requests == []  # never sent, never retried
    if token:
        assert "secret" not in str(raised.value) and "secret" not in caplog.text
    jobs = client_for(cts_emulator, token=token)
    with pytest.raises(CtsConfigError):
        jobs.get_jobs(["j1", "j2"])  # a configuration error, not a per-job error


def test_token_echoed_by_the_server_is_redacted(cts_emulator, caplog):
    """Even an error body that quotes the token (a misbehaving proxy) never carries it
    into exceptions or logs."""
    cts_emulator.add_job(job_id="j1", image_name=IMAGE)
    wrong = "wrong-but-still-secret"
    cts_emulator.token = wrong + "-x"  # the emulator's error text does not echo; force it:
    original = cts_emulator._authorize

    def echoing(header):
        denied = original(header)
        if denied:
            denied[1]["error"]["message"] = f"Invalid token: {header}"
        return denied

    cts_emulator._authorize = echoing
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CtsError) as raised:
        client_for(cts_emulator, token=wrong).get_job("j1")
    assert wrong not in str(raised.value) and "<redacted>" in str(raised.value)
    assert wrong not in caplog.text


def test_job_ids_are_url_quoted(cts_emulator):
    """An id that is not a CTS id never reaches another route; the CTS rejects it."""
    cts_emulator.add_job(job_id="j1", image_name=IMAGE)
    with pytest.raises(CtsError, match="HTTP 400") as raised:
        client_for(cts_emulator).get_job("j1/meta")
    assert not isinstance(raised.value, CtsUnavailable)
    assert cts_emulator.requests == [("GET", "/admin/jobs/j1%2Fmeta")]


def test_emulator_validates_meta_value_types(cts_emulator):
    cts_emulator.add_job(job_id="j1", image_name=IMAGE)
    with pytest.raises(CtsError, match="HTTP 400"):
        client_for(cts_emulator).set_meta("j1", {"odp_import_start": {"nested": 1}})
    assert cts_emulator.meta("j1") == {}


def test_deadline_bounds_retries(cts_emulator):
    import time

    cts_emulator.add_job(job_id="j1", image_name=IMAGE)
    cts_emulator.fail_next(1000)
    client = client_for(cts_emulator, max_attempts=1000, backoff_base_seconds=0.05)
    with pytest.raises(CtsUnavailable, match="deadline reached"):
        client.get_job("j1", deadline=time.monotonic() + 0.5)
    assert 1 <= len(cts_emulator.requests) < 1000


@pytest.mark.parametrize("trickle_headers", [False, True], ids=["body", "headers-and-body"])
def test_a_trickling_answer_is_cut_at_the_deadline(cts_emulator, trickle_headers):
    """Issue 12, row 4: httpx timeouts are per read, so an answer arriving a byte at a
    time never tripped them (a 1.6 KB document over 40 s kept a 6 s tick busy for 44 s).
    The deadline now holds while headers and body are read: the call ends long before
    the 60 s the trickle would take."""
    import json
    import time

    from localdev.cts_emulator import job_document
    from resources.cts.client import CtsDeadlineReached

    document = json.dumps(job_document("slow", image_name=IMAGE)).encode()
    cts_emulator.serve_raw("slow", document, trickle_seconds=60, trickle_headers=trickle_headers)
    client = client_for(cts_emulator, timeout_seconds=30.0, max_attempts=3)
    start = time.monotonic()
    with pytest.raises(CtsDeadlineReached):
        client.get_job("slow", deadline=time.monotonic() + 2.0)
    assert time.monotonic() - start < 30  # not the trickle's 60 s (nor one 30 s attempt)


def test_each_attempt_is_bounded_as_a_whole(cts_emulator):
    """Without a caller deadline, `timeout_seconds` bounds an attempt (connect, headers,
    body) in total, and the retries end with CtsUnavailable."""
    import json
    import time

    from localdev.cts_emulator import job_document

    document = json.dumps(job_document("slow", image_name=IMAGE)).encode()
    cts_emulator.serve_raw("slow", document, trickle_seconds=60)
    start = time.monotonic()
    with pytest.raises(CtsUnavailable, match="no complete answer within 1s"):
        client_for(cts_emulator, timeout_seconds=1.0, max_attempts=2).get_job("slow")
    assert time.monotonic() - start < 30


def test_an_oversized_answer_is_refused(cts_emulator):
    from resources.cts.client import CtsBadResponse

    cts_emulator.serve_raw("huge", b'{"id": "huge", "pad": "' + b"x" * 300_000 + b'"}')
    with pytest.raises(CtsBadResponse, match="larger than 100,000 bytes"):
        client_for(cts_emulator, max_response_bytes=100_000).get_job("huge")


@pytest.mark.parametrize("status", [400, 500])
def test_a_non_json_error_body_is_redacted_before_it_is_cut(cts_emulator, caplog, status):
    """Issue 12, row 8: a non-JSON error body was cut to 200 characters and then redacted,
    so a token straddling the cut leaked its first characters into the error, the logs
    and the DLQ. The whole body is redacted first."""
    token = "Zq7" + "K" * 34 + "wX9"  # 40 characters
    cts_emulator.token = token
    body = ("e" * 182 + token + "e" * 100).encode()
    cts_emulator.serve_raw("j1", body, status=status, content_type="text/plain")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CtsError) as raised:
        client_for(cts_emulator, token=token).get_job("j1")
    text = str(raised.value) + caplog.text
    assert "Zq7K" not in text and "KKKKKK" not in text and "<redacted>" in text


class _ForwardProxy(BaseHTTPRequestHandler):
    """A plain-HTTP forward proxy: records each request (method, absolute URL,
    Proxy-Authorization) and relays it to its target."""

    protocol_version = "HTTP/1.1"

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        seen = (self.command, self.path, self.headers.get("Proxy-Authorization"), self.headers.get("User-Agent"))
        self.server.seen.append(seen)  # type: ignore[attr-defined]
        target = urlsplit(self.path)
        upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
        hop_by_hop = {"proxy-authorization", "proxy-connection", "connection", "host"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in hop_by_hop}
        upstream.request(self.command, target.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        upstream.close()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in {"connection", "content-length", "transfer-encoding"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = _relay

    def log_message(self, format: str, *args) -> None:
        pass


def test_the_environments_proxy_carries_the_calls_unless_no_proxy_names_the_host(cts_emulator, monkeypatch):
    """As httpx's default (trust_env) did: ``HTTP_PROXY``, credentials included, carries
    every CTS call; a host in ``NO_PROXY`` is reached directly."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    proxy.seen = []
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://odp:p%40ss@127.0.0.1:{proxy.server_address[1]}")
        cts_emulator.add_job(job_id="via-proxy", image_name=IMAGE)
        client = client_for(cts_emulator)
        assert client.get_job("via-proxy")["id"] == "via-proxy"
        client.set_meta("via-proxy", {"odp_import_start": "t0"})
        client.close()
        assert [(method, urlsplit(url).path) for method, url, _, _ in proxy.seen] == [
            ("GET", "/admin/jobs/via-proxy"),
            ("PUT", "/admin/jobs/via-proxy/meta"),
        ]
        assert {auth for _, _, auth, _ in proxy.seen} == {"Basic " + base64.b64encode(b"odp:p@ss").decode()}
        assert {agent for _, _, _, agent in proxy.seen} == {USER_AGENT.decode()}  # gateways may want one
        assert cts_emulator.meta("via-proxy") == {"odp_import_start": "t0"}

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        direct = client_for(cts_emulator)
        assert direct.get_job("via-proxy")["id"] == "via-proxy"
        direct.close()
        assert len(proxy.seen) == 2  # not through the proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


def _ca_certificate_pem(common_name: str) -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def test_ssl_cert_file_or_dir_name_the_cas_the_client_trusts(tmp_path, monkeypatch):
    """A company's own CAs, named by ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` as httpx
    honoured them, are the ones trusted; without either, certifi's bundle."""
    from resources.cts import deadline_http

    def trusted() -> list:
        deadline_http._ssl_context.cache_clear()
        try:
            return [cert["subject"] for cert in deadline_http._ssl_context().get_ca_certs()]
        finally:
            deadline_http._ssl_context.cache_clear()

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    assert len(trusted()) > 50  # certifi's bundle
    (tmp_path / "ca.pem").write_bytes(_ca_certificate_pem("odp test CA"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    assert trusted() == []  # a CA directory is read on demand, and certifi's bundle is not loaded
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    assert trusted() == [((("commonName", "odp test CA"),),)]
