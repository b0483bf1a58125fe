"""The one bounded HTTP GET of the project (arXiv, PDFs, Semantic Scholar, OpenAlex, open-access hosts).

Each try has ONE total deadline (`http_timeout`: connect, headers and body together), enforced by a
clock: a watchdog shuts the socket when it passes, and every body read may wait only the time left,
whatever the framing (Content-Length, chunked, HTTP/1.0 to the close, TLS), so a server that drips a byte
a second cannot hang a run. 429, 5xx, timeouts and dropped connections are retried a bounded number of times with backoff that
honours Retry-After, and all the waiting of one call is bounded too. Bodies are capped in size.
Politeness clocks (one per named service, per process) space the calls a service asks to be spaced.

Why http.client and not requests/urllib3: their timeouts are per socket read (a dripping server
resets them forever); a total deadline needs the socket, which http.client hands us before any read.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import threading
import time
import urllib.request
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

RETRIES = 3
UNREACHABLE_RETRIES = 1  # a host that cannot be reached at all is tried twice, not four times: offline is common
MAX_WAIT = 60.0  # seconds of retry waiting in one call, Retry-After included
MAX_REDIRECTS = 5
CHUNK = 1 << 16


def user_agent() -> str:
    """`agent-scientist/<installed version>`: no placeholder URL (the project publishes none)."""
    from agent_scientist import __version__

    return f"agent-scientist/{__version__} (research assistant)"


class FetchError(Exception):
    """A request failed; `kind` says how and the message says what to do."""

    def __init__(self, kind: str, message: str, body: bytes = b"", retry_after: float = 0.0):
        super().__init__(message)
        self.kind = kind  # not_found, http, offline, unavailable, rate_limited, too_large, not_pdf, ...
        self.body = body  # the start of an error answer, which may explain the refusal
        self.retry_after = retry_after


# -- politeness clocks: one per service, per process ---------------------------------
_clock_lock = threading.Lock()
_last_call: dict[str, float] = {}


def _wait_turn(clock: str, delay: float, deadline: float) -> None:
    """Sleep until `delay` seconds have passed since the previous call on `clock` (never past `deadline`)."""
    if not clock:
        return
    with _clock_lock:
        pause = _last_call.get(clock, 0.0) + delay - time.monotonic()
        if pause > 0:
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        _last_call[clock] = time.monotonic()


def _mark_done(clock: str) -> None:
    if clock:
        with _clock_lock:
            _last_call[clock] = time.monotonic()


class _Timeout(Exception):
    pass


class _Unreachable(Exception):
    pass


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value or 0))
    except (TypeError, ValueError):
        return 0.0


def http_get(url: str, *, timeout: float, max_bytes: int, params: dict | None = None,
             headers: dict[str, str] | None = None, what: str = "the server", clock: str = "",
             delay: float = 0.0, retries: int = RETRIES, max_wait: float = MAX_WAIT) -> bytes:
    """GET `url`: each try ends within `timeout` s, at most `retries` retries waiting at most `max_wait` s
    in all; returns the body (never more than `max_bytes`) or raises FetchError saying what to do."""
    if params:
        url += ("&" if "?" in url else "?") + urlencode(params)
    waited, last = 0.0, "no answer"
    for attempt in range(retries + 1):
        wait = 0.0
        try:
            _wait_turn(clock, delay, time.monotonic() + max_wait)
            status, resp_headers, body, final = _get_once(url, headers or {}, timeout, max_bytes, what)
        except _Timeout:
            last = f"{what} did not answer within {timeout:g} s (AGENT_SCIENTIST_HTTP_TIMEOUT, the total per request)"
        except _Unreachable as exc:
            last = (f"connection to {what} failed: {urlsplit(url).netloc} cannot be reached ({exc}); "
                    "no network, or the server is down")
            if attempt >= UNREACHABLE_RETRIES:
                raise FetchError("offline", last) from None
        except (OSError, http.client.HTTPException) as exc:
            last = f"connection to {what} failed or dropped mid-answer ({_short(exc)})"
        else:
            if 200 <= status < 300:
                return body
            if status == 429 or status >= 500:
                last = f"{what} answered HTTP {status}" + (" (rate limited)" if status == 429 else "")
                wait = _retry_after(resp_headers.get("Retry-After"))
                if wait > max_wait - waited:
                    raise FetchError("rate_limited" if status == 429 else "unavailable",
                                     f"{last} and asked to wait {wait:g} s, more than this call may wait",
                                     retry_after=wait)
            elif status == 404:
                raise FetchError("not_found", f"{what} answered 404 Not Found for {final}", body=body[:65536])
            else:
                raise FetchError("http", f"{what} answered HTTP {status} for {final}", body=body[:65536])
        finally:
            _mark_done(clock)
        if attempt < retries:
            pause = max(wait, delay * 2**attempt)
            if waited + pause > max_wait:
                break
            time.sleep(pause)
            waited += pause
    kind = "rate_limited" if "429" in last else "unavailable"
    raise FetchError(kind, f"{last} (after {attempt + 1} tries)")


def _proxy_for(parts: Any) -> str:
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return ""
    return urllib.request.getproxies().get(parts.scheme, "")


def _connection(parts: Any, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    """A connection (through the environment's proxy, if any) and the request target."""
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    proxy = _proxy_for(parts)
    host, port = parts.hostname or "", parts.port
    if proxy:
        p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                p.hostname or "", p.port or 80, timeout=timeout, context=ssl.create_default_context())
            conn.set_tunnel(host, port or 443)
            return conn, target
        return http.client.HTTPConnection(p.hostname or "", p.port or 80, timeout=timeout), parts.geturl()
    if parts.scheme == "https":
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context()), target
    if parts.scheme != "http":
        raise FetchError("http", f"unsupported URL {parts.geturl()!r}: use http:// or https://")
    return http.client.HTTPConnection(host, port, timeout=timeout), target


def _get_once(url: str, headers: dict[str, str], timeout: float, max_bytes: int,
              what: str) -> tuple[int, Any, bytes, str]:
    """One try, redirects followed, all within `timeout` seconds: (status, headers, body, final URL)."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        conn, target = _connection(parts, timeout)
        expired = threading.Event()
        opened: list[socket.socket] = []  # the socket itself: http.client drops conn.sock once a response
        # that ends at close (HTTP/1.0, no Content-Length) takes it over, and the watchdog must still reach it

        def shut(expired: threading.Event = expired, opened: list[socket.socket] = opened) -> None:
            expired.set()
            for sock in opened:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), shut)
        watchdog.daemon = True
        watchdog.start()
        try:
            try:
                conn.connect()
            except (ConnectionRefusedError, socket.gaierror) as exc:
                why = "connection refused" if isinstance(exc, ConnectionRefusedError) else \
                    "the host name does not resolve"
                raise _Unreachable(why) from None
            if conn.sock is not None:
                opened.append(conn.sock)
            conn.request("GET", target, headers={"User-Agent": user_agent(), "Accept-Encoding": "identity",
                                                 **headers})
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
                url = urljoin(url, resp.getheader("Location") or "")
                continue
            if resp.status >= 300:
                return resp.status, resp.headers, resp.read(65536), url
            body = _read_body(resp, max_bytes, what, deadline, opened)
            if expired.is_set():  # the watchdog's shutdown reads as the end of a body with no length
                raise _Timeout()
            return resp.status, resp.headers, body, url
        except (OSError, http.client.HTTPException):
            if expired.is_set() or time.monotonic() >= deadline:
                raise _Timeout() from None
            raise
        finally:
            watchdog.cancel()
            conn.close()
    raise FetchError("http", f"{what} redirected more than {MAX_REDIRECTS} times from {url}")


def _read_body(resp: http.client.HTTPResponse, max_bytes: int, what: str, deadline: float,
               socks: list[socket.socket]) -> bytes:
    """The body, whatever its framing, read within `deadline`: each read may wait only the time left."""
    length = resp.getheader("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise FetchError("too_large", f"{what} answer is {int(length) / 1e6:.1f} MB, over the "
                                      f"{max_bytes / 1e6:.1f} MB cap")
    body = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Timeout()
        for sock in socks:
            sock.settimeout(left)
        chunk = resp.read1(CHUNK) if hasattr(resp, "read1") else resp.read(CHUNK)
        if not chunk:
            break
        body += chunk
        if len(body) > max_bytes:
            raise FetchError("too_large", f"{what} answer exceeds the {max_bytes / 1e6:.1f} MB cap")
    if length and length.isdigit() and len(body) < int(length):
        raise http.client.IncompleteRead(bytes(body), int(length) - len(body))
    return bytes(body)


def _short(exc: BaseException) -> str:
    text = re.sub(r"\s+", " ", str(exc))
    return text[:160] or type(exc).__name__
