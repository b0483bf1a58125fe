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
def http_server(home: Path, env: dict, *args: str, timeout: float = 90.0):
    """Yield the URL of our MCP server once it accepts connections; stop it afterwards."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "agent_scientist", "mcp", "--transport", "http",
                             "--port", str(port), *args], env=env, cwd=home.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise AssertionError(f"the MCP server exited: {proc.communicate()[1]}") from None
                if time.monotonic() > deadline:
                    raise AssertionError("the MCP server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
