"""The one bounded HTTP GET (papers/fetch.py) against a loopback server that misbehaves on purpose."""

from __future__ import annotations

import time

import pytest
from support.drip_server import DripServer

from agent_scientist import __version__
from agent_scientist.papers.fetch import FetchError, http_get, user_agent


@pytest.fixture
def server():
    srv = DripServer(interval=1.0)
    yield srv
    srv.stop()


@pytest.mark.parametrize("path", ["/drip-headers", "/drip-body"])
def test_a_dripping_server_ends_at_the_total_deadline(server, path) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="did not answer within 2 s") as caught:
        http_get(server.base + path, timeout=2, max_bytes=1000, retries=0)
    elapsed = time.monotonic() - started
    assert elapsed < 4, elapsed  # one byte a second for 40+ s without the clock; a bound, not a speed
    assert caught.value.kind == "unavailable"


def _bounded_get(url: str, timeout: float) -> tuple[BaseException | None, float]:
    """http_get in a thread, so that a hang fails the test instead of stalling it: (error, seconds)."""
    import threading

    got: list[BaseException | None] = []

    def get() -> None:
        try:
            http_get(url, timeout=timeout, max_bytes=1000, retries=0)
            got.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            got.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=get, daemon=True)
    thread.start()
    thread.join(timeout + 10)
    assert got, f"http_get({url}) had not returned {timeout + 10:g} s after a {timeout:g} s deadline"
    return got[0], time.monotonic() - started


@pytest.mark.parametrize("path", ["/drip-http10", "/drip-chunked"])
def test_the_deadline_holds_for_every_body_framing(server, path) -> None:
    """Finding 6 of issue 21: HTTP/1.0 with no Content-Length dripping a byte a second hung http_get."""
    error, elapsed = _bounded_get(server.base + path, 2)
    assert isinstance(error, FetchError) and "did not answer within 2 s" in str(error), error
    assert elapsed < 5, elapsed  # a bound, not a speed: 100 s without the clock


def test_the_deadline_holds_over_tls(tmp_path, monkeypatch) -> None:
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        pytest.fail("openssl is needed to make the test's certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    srv = DripServer(interval=1.0, tls=(str(cert), str(key)))
    try:
        assert http_get(srv.base + "/ok", timeout=5, max_bytes=100) == b"ok"
        error, elapsed = _bounded_get(srv.base + "/drip-http10", 2)
        assert isinstance(error, FetchError) and "did not answer within 2 s" in str(error), error
        assert elapsed < 5, elapsed
    finally:
        srv.stop()


def test_retries_of_a_dripping_server_are_bounded_too(server) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"after 2 tries"):
        http_get(server.base + "/drip-body", timeout=1, max_bytes=1000, retries=1)
    assert time.monotonic() - started < 5
    assert server.requests == ["/drip-body", "/drip-body"]


def test_retry_after_is_honoured(server) -> None:
    started = time.monotonic()
    assert http_get(server.base + "/retry-after/1", timeout=5, max_bytes=10) == b"ok"
    assert time.monotonic() - started >= 0.95
    assert server.requests == ["/retry-after/1"] * 2


def test_a_retry_after_past_the_wait_bound_fails_at_once(server) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="asked to wait 3600 s") as caught:
        http_get(server.base + "/retry-after/3600", timeout=5, max_bytes=10, max_wait=30)
    assert caught.value.kind == "rate_limited" and caught.value.retry_after == 3600
    assert time.monotonic() - started < 3


def test_size_cap_without_content_length(server) -> None:
    with pytest.raises(FetchError, match="exceeds the 0.1 MB cap") as caught:
        http_get(server.base + "/big", timeout=10, max_bytes=100_000)
    assert caught.value.kind == "too_large"


def test_redirects_are_followed(server) -> None:
    assert http_get(server.base + "/redirect", timeout=5, max_bytes=10) == b"ok"
    assert server.requests == ["/redirect", "/ok"]


def test_user_agent_has_the_installed_version_and_no_placeholder() -> None:
    assert user_agent().startswith(f"agent-scientist/{__version__} ") and "github.com/;" not in user_agent()
    assert __version__ and __version__[0].isdigit()
