"""`agent-scientist mcp`: serve our paper and memory tools to other assistants over MCP."""

from __future__ import annotations

import sys

import typer

from agent_scientist.cli.common import EXIT_INTERRUPTED, cli_settings, fail, open_or_create_workspace


def mcp(
    workspace: str = typer.Option(None, "--workspace", help="Workspace for papers and memory (created if missing)."),
    transport: str = typer.Option("stdio", "--transport", help="stdio (default) or http (streamable HTTP)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address for --transport http (loopback by default)."),
    port: int = typer.Option(8765, "--port", help="Port for --transport http."),
    allow_experiments: bool = typer.Option(False, "--allow-experiments",
                                           help="Also serve edit_file and run_experiment (sandboxed)."),
) -> None:
    """Serve search_papers, read_paper and paper_graph, and with --workspace remember, recall and gather_evidence,
    as an MCP server (stdio or streamable HTTP)."""
    if transport not in ("stdio", "http"):
        fail(f"--transport {transport!r}: use stdio or http.")
    if allow_experiments and not workspace:
        fail("--allow-experiments needs --workspace NAME: experiments run in that workspace's files/.")
    settings = cli_settings()
    from agent_scientist.capabilities import default_capabilities
    from agent_scientist.mcp import server

    if transport == "http" and host.strip() in server.WILDCARDS:
        fail(f"--host {host!r} would listen on every address, and requests must name the address served: give "
             "the one clients will use (127.0.0.1, the default, or this machine's address).")

    ws = open_or_create_workspace(settings, workspace) if workspace else None  # its recorded memory server too
    served = server.build(settings, default_capabilities(), ws, allow_experiments)
    for warning in served.warnings:  # stdout carries the protocol: say it on stderr
        print(f"Warning: {warning}", file=sys.stderr)
    where = f"workspace {workspace}" if workspace else "the shared papers cache"
    if server.without_workspace(served):
        print(f"Note: {server.without_workspace(served)}", file=sys.stderr)
    try:
        if transport == "stdio":
            print(f"agent-scientist MCP server on stdio ({where}); tools: {', '.join(served.tools)}", file=sys.stderr)
            server.serve_stdio(served)
        else:
            print(f"agent-scientist MCP server at http://{host}:{port}/mcp ({where}); tools: "
                  f"{', '.join(served.tools)}", file=sys.stderr)
            server.serve_http(served, host, port)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None


def register(app: typer.Typer) -> None:
    app.command()(mcp)


__all__ = ["register"]
