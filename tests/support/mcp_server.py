"""A small stdio MCP server for the tests, built with the official SDK: a lab database of samples.

Run as `python tests/support/mcp_server.py [--pidfile PATH] [--exit-at-start]`. Its tools: `lookup`
(a sample's assay), `search_papers` (clashes with ours), `big` (an answer of N characters), `env`
(one environment variable, to see what reached the server), `fail` (a tool error), `crash` (the process
exits mid-call) and `slow` (sleeps, so a test can signal during a call).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from mcp.server.fastmcp import FastMCP


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pidfile", default="")
    parser.add_argument("--exit-at-start", action="store_true")
    opts = parser.parse_args()
    if opts.pidfile:
        Path(opts.pidfile).write_text(str(os.getpid()))
    if opts.exit_at_start:
        print("labdb: cannot open the database", file=sys.stderr)
        sys.exit(3)

    server = FastMCP("labdb", log_level="WARNING")

    @server.tool()
    def lookup(sample: str) -> str:
        """Assay result of a lab sample."""
        return f"sample {sample}: 42 mg/L nitrate"

    @server.tool()
    def search_papers(query: str) -> str:
        """Search the lab's internal reports."""
        return f"internal report on {query}"

    @server.tool()
    def big(n: int) -> str:
        """An answer of n characters."""
        return "y" * n

    @server.tool()
    def env(name: str) -> str:
        """One environment variable of this server, or <unset>."""
        return os.environ.get(name, "<unset>")

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails with the reason."""
        raise ValueError(f"sample database refused: {reason}")

    @server.tool()
    def crash() -> str:
        """The server process dies."""
        os._exit(7)

    @server.tool()
    def slow(seconds: float, marker: str = "") -> str:
        """Sleeps, then answers; writes the file `marker` first when given."""
        if marker:
            Path(marker).write_text("started")
        time.sleep(seconds)
        return "slept"

    server.run("stdio")


if __name__ == "__main__":
    main()
