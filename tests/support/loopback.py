"""What the loopback stand-ins of web services share: a threading HTTP server on 127.0.0.1 started in a
daemon thread (usable as a context manager), a quiet HTTP/1.1 handler, answering a body with its
status, type and headers (`send`, or `QuietHandler._send`), and failures scripted one per request
(`Scripted`)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class Loopback:
    """A threaded HTTP server on a free port of 127.0.0.1 serving `handler`; `requests` holds every path
    a server chooses to record there."""

    def __init__(self, handler: type[BaseHTTPRequestHandler],
                 server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer):
        self.requests: list = []  # paths, or what a server records of each request
        self._httpd = server_class(("127.0.0.1", 0), handler)
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
    """HTTP/1.1, no request log, and one way to answer: status, body (bytes, text, or a dict sent as JSON), type
    (`content_type` unless given)."""

    protocol_version = "HTTP/1.1"
    content_type = "application/json"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes | str | dict, ctype: str | None = None,
              headers: dict | None = None) -> None:
        send(self, status, body, ctype or self.content_type, headers)

    def _scripted(self, server: Scripted) -> bool:
        """Record the request and answer the server's next scripted failure; False when none is due."""
        step = server.next_step(self.path)
        if step == "hang":
            time.sleep(server.hang_s)  # no answer: the client's deadline must end the wait
            return True
        if step:
            self._send(*server.failures[step])
        return bool(step)


# A scripted failure's answer: status, body, content type, extra headers.
Failure = tuple[int, str | bytes, str, dict[str, str]]


class Scripted(Loopback):
    """A Loopback that records every request and answers failures scripted one per request (`fail`): a name
    of `failures` (the service's own bodies for "429", "500", ...) or "hang" (no answer for `hang_s`);
    `delay` seconds are slept before every answer. Its handler calls `QuietHandler._scripted` first."""

    failures: dict[str, Failure] = {}

    def __init__(self, handler: type[BaseHTTPRequestHandler], delay: float = 0.0, hang_s: float = 30.0):
        super().__init__(handler)
        self.delay = delay
        self.hang_s = hang_s
        self.script: deque[str] = deque()

    def fail(self, *steps: str) -> None:
        unknown = [s for s in steps if s != "hang" and s not in self.failures]
        assert not unknown, f"{type(self).__name__} scripts only {sorted(self.failures)} and hang, not {unknown}"
        self.script.extend(steps)

    def next_step(self, path: str) -> str:
        """Record `path`, wait `delay`, and take the next scripted step ("" when none is left)."""
        self.requests.append(path)
        if self.delay:
            time.sleep(self.delay)
        return self.script.popleft() if self.script else ""
