"""What the loopback stand-ins of web services share: a threading HTTP server on 127.0.0.1 started in a
daemon thread (usable as a context manager), a quiet HTTP/1.1 handler, and answering a body with its
status, type and headers (`send`, or `QuietHandler._send`)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class Loopback:
    """A threaded HTTP server on a free port of 127.0.0.1 serving `handler`; `requests` holds every path
    a server chooses to record there."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.requests: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self) -> int:
        return len(self.requests)


def send(handler: BaseHTTPRequestHandler, status: int, body: str | bytes | dict, ctype: str = "application/json",
         extra: dict | None = None) -> None:
    """Answer `body` (text, bytes, or a dict sent as JSON) with its length, type and any extra headers."""
    if isinstance(body, dict):
        data = json.dumps(body).encode()
    else:
        data = body.encode() if isinstance(body, str) else body
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(data)))
    for k, v in (extra or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(data)


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1, no request log, and one way to answer: status, body (bytes, text, or a dict sent as JSON), type."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes | str | dict, ctype: str = "application/json",
              headers: dict | None = None) -> None:
        send(self, status, body, ctype, headers)
