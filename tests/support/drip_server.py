"""A loopback HTTP server that misbehaves on purpose: drips bytes, rate-limits, redirects, over-sends.

Paths: /drip-headers (one header byte a second), /drip-body (headers at once, then one body byte a
second), /drip-http10 (an HTTP/1.0 answer with no Content-Length, one body byte a second),
/drip-chunked (a chunked answer, one byte a second), /retry-after/N (429 with Retry-After: N, then 200 "ok" on the next request), /big (an endless
body without Content-Length), /redirect (302 to /ok), /ok.
"""

from __future__ import annotations

import socket
import threading
import time


class DripServer:
    def __init__(self, interval: float = 1.0, tls: tuple[str, str] | None = None):
        """`tls` = (certificate file, key file) serves https with that certificate."""
        self.interval, self.tls = interval, tls
        self.requests: list[str] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._stop = threading.Event()
        self._limited: set[str] = set()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._sock.getsockname()[1]}"

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket, data: bytes) -> None:
        for i in range(len(data)):
            if self._stop.is_set():
                return
            conn.sendall(data[i:i + 1])
            time.sleep(self.interval)

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.tls:
                import ssl

                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(*self.tls)
                conn = context.wrap_socket(conn, server_side=True)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            path = request.split(b" ")[1].decode()
            self.requests.append(path)
            if path == "/drip-headers":
                self._drip(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            elif path == "/drip-body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                self._drip(conn, b"x" * 100)
            elif path == "/drip-http10":
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                self._drip(conn, b"x" * 100)
            elif path == "/drip-chunked":
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                self._drip(conn, b"1\r\nx\r\n" * 100)
            elif path.startswith("/retry-after/"):
                if path in self._limited:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                else:
                    self._limited.add(path)
                    wait = path.rsplit("/", 1)[1]
                    conn.sendall(f"HTTP/1.1 429 Too Many Requests\r\nRetry-After: {wait}\r\n"
                                 "Content-Length: 0\r\n\r\n".encode())
            elif path == "/big":
                conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                for _ in range(1000):
                    conn.sendall(b"y" * 65536)
            elif path == "/redirect":
                conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n")
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            pass
        finally:
            conn.close()
