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
