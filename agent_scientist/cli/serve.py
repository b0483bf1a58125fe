"""`agent-scientist serve`: the workspaces in a browser (agent_scientist.web)."""

from __future__ import annotations

import typer

from agent_scientist.cli.common import EXIT_USAGE, cli_settings, console, fail, warn


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind. Anything but loopback is reachable "
                                                         "by others, protected only by the token."),
    port: int = typer.Option(8000, "--port", help="Port to bind (0: any free port)."),
    allow_runs: bool = typer.Option(False, "--allow-runs", help="Let the page start, resume and stop runs "
                                                                "(each the same CLI process a terminal starts)."),
) -> None:
    """Serve the workspace home in a browser: reports with every citation one click from its page, live runs.

    Example: agent-scientist serve --allow-runs
    """
    import socket

    from agent_scientist.config import is_loopback
    from agent_scientist.web.app import Config, create_app
    from agent_scientist.web.security import new_token

    settings = cli_settings()
    if not 0 <= port <= 65535:
        fail(f"--port {port}: give a port from 1 to 65535 (0: any free port).", EXIT_USAGE)
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)  # connections wait from now on, so the printed URL works at once
    except OSError as exc:
        sock.close()
        fail(f"Cannot listen on {host}:{port} ({exc.strerror or exc}). Choose another --port or --host.")
    port = sock.getsockname()[1]
    if not is_loopback(host):
        warn(f"--host {host} is not loopback: anyone who can reach this address and learns the token can read "
             "every workspace" + (" and start runs" if allow_runs else "") + ". The token is the only protection.")
    token = new_token()
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    console.print(f"Serving {settings.home}\nOpen: http://{shown}:{port}/?token={token}\n"
                  + ("Runs from the page: allowed." if allow_runs else
                     "Read-only (start with --allow-runs to run from the page).") + " Ctrl-C stops the server.",
                  highlight=False)
    import uvicorn

    app = create_app(Config(settings, token, host, port, allow_runs))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    console.print("Stopped.")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
