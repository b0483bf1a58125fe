"""`agent-scientist trust [PATH]`: let a folder's agent-scientist.toml start programs or open the sandbox."""

from __future__ import annotations

from pathlib import Path

import typer

from agent_scientist.cli.common import console, fail


def trust(path: Path = typer.Argument(None, help="Folder holding agent-scientist.toml (default: this one), "
                                                 "or the file.")) -> None:
    """Trust this content of a folder's agent-scientist.toml: its mcp_servers, sandbox_network and
    sandbox_python then count. Recorded by path and sha256; a changed file needs trusting again.

    Example: agent-scientist trust ~/projects/study
    """
    from agent_scientist.config import ConfigError, user_config_dir
    from agent_scientist.config import trust as record

    try:
        target, keys = record(path or Path.cwd())
    except ConfigError as exc:
        fail(str(exc))
    what = f"its {', '.join(keys)} now count" if keys else "it sets nothing that needs trust"
    console.print(f"Trusted {target} as it is now: {what}. Recorded in {user_config_dir() / 'trusted.json'}.",
                  highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(trust)


__all__ = ["register"]
