"""What every request passes before a page: the Host it names, the token (URL once, then a cookie), a CSRF
token on POSTs, and files resolved inside the home. Anything else gets a plain refusal."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from agent_scientist.config import WILDCARDS, is_loopback

COOKIE = "agent_scientist_token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
HEADERS = [  # no page of ours loads anything from elsewhere, runs inline script or sits in a frame
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                 b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # never sent elsewhere; "no-referrer" would make POSTs say Origin: null
    (b"cache-control", b"no-store"),
]


class Refused(Exception):
    """A request outside what the app serves; the message says why."""


def new_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(token: str) -> str:
    """The CSRF token of a session: derived from its secret, so it needs no storage and no other request learns it."""
    return hmac.new(token.encode(), b"csrf", hashlib.sha256).hexdigest()[:32]


def allowed_hosts(host: str, port: int) -> set[str] | None:
    """The `Host` values a request may carry (None: any, for a wildcard bind where only the token protects)."""
    if host.strip() in WILDCARDS:
        return None
    names = [host.strip()]
    if is_loopback(host):
        names += list(LOOPBACK_NAMES)
    names = [f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names]
    return {f"{n}:{port}".lower() for n in names} | ({n.lower() for n in names} if port == 80 else set())


def resolve_inside(root: Path, relative: str) -> Path:
    """`relative` under `root`, refused if it climbs out (`..`, an absolute path, a symlink pointing away)."""
    if not relative or "\x00" in relative or relative.startswith(("/", "\\")) or ".." in Path(relative).parts:
        raise Refused(f"refused path {relative!r}")
    base = root.resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise Refused(f"refused path {relative!r}: it leads outside the workspace home")
    return target


class Guard:
    """ASGI middleware: Host check, token (query `token=` sets the cookie, then redirects without it), CSRF."""

    def __init__(self, app: Any, token: str, host: str, port: int):
        self.app = app
        self.token = token
        self.csrf = csrf_token(token)
        self.hosts = allowed_hosts(host, port)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        host = headers.get("host", "").lower()
        if self.hosts is not None and host not in self.hosts:
            await _refuse(send, 403, f"Refused: the Host header {host!r} is not the address this server is bound to.")
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = (query.get("token") or [""])[0]
        if given:
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                await _refuse(send, 403, "Refused: wrong token. Open the URL `agent-scientist serve` printed.")
                return
            rest = {k: v for k, v in query.items() if k != "token"}
            location = scope.get("path", "/") + (f"?{urlencode(rest, doseq=True)}" if rest else "")
            cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode()), *HEADERS]})
            await send({"type": "http.response.body", "body": b""})
            return
        if not hmac.compare_digest(_cookie(headers.get("cookie", "")).encode(), self.token.encode()):
            await _refuse(send, 403, "Refused: no token. Open the URL with ?token=... that `agent-scientist serve` "
                                     "printed when it started.")
            return
        if scope.get("method") not in ("GET", "HEAD", "POST"):
            await _refuse(send, 405, "Refused: only GET and POST are served.")
            return
        origin = headers.get("origin")
        if scope.get("method") == "POST" and origin and self.hosts is not None and \
                origin.lower().split("://", 1)[-1] not in self.hosts:
            await _refuse(send, 403, f"Refused: a POST from another origin ({origin}).")
            return
        scope.setdefault("state", {})["csrf"] = self.csrf

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _cookie(header: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == COOKIE:
            return value
    return ""


async def _refuse(send: Any, status: int, message: str) -> None:
    body = message.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS]})
    await send({"type": "http.response.body", "body": body})
