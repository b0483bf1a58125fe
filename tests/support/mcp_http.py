"""`agent-scientist mcp --transport http` in a subprocess on a free loopback port, for the tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def http_server(home: Path, env: dict, *args: str, timeout: float = 90.0, host: str = ""):
    """Yield the URL of our MCP server once it accepts connections; stop it afterwards.

    `host` is passed as --host (any spelling); the server is reached at the address it resolves to."""
    port = free_port()
    address = socket.gethostbyname(host) if host else "127.0.0.1"
    proc = subprocess.Popen([sys.executable, "-m", "agent_scientist", "mcp", "--transport", "http",
                             "--port", str(port), *(["--host", host] if host else []), *args], env=env, cwd=home.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((address, port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise AssertionError(f"the MCP server exited: {proc.communicate()[1]}") from None
                if time.monotonic() > deadline:
                    raise AssertionError("the MCP server did not start") from None
                time.sleep(0.1)
        yield f"http://{address}:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
