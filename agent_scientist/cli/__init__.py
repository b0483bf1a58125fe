"""The `agent-scientist` command: a typer app assembled from one module per command group.

Only typer and light project modules are imported here; a command's module is imported when that command
runs, and each command imports the heavy libraries it needs (smolagents, litellm, chromadb, pymupdf) then.
"""

from __future__ import annotations

import typer

from agent_scientist.cli.group import LazyGroup

HELP = ("A command-line research scientist: searches arXiv, Semantic Scholar, OpenAlex, PubMed and more, reads papers, runs "
        "experiments, reports with citations.")
SETTINGS: dict = {"add_completion": False, "pretty_exceptions_enable": False,
                  # click's plain help, as wide as the terminal: typer's rich help prints `<bool>` after flags
                  # such as --quiet and --help, which take no value (patching typer's internals was the other way).
                  "rich_markup_mode": None}

# Each command and the module whose `register(app)` adds it, in the order of `--help`; a command's module is
# imported only when that command runs (tests/test_cli_imports.py checks this table against the modules).
COMMANDS = {
    "research": "agent_scientist.cli.run", "resume": "agent_scientist.cli.run", "init": "agent_scientist.cli.run",
    "doctor": "agent_scientist.cli.run",
    "list": "agent_scientist.cli.workspaces", "show": "agent_scientist.cli.workspaces",
    "delete": "agent_scientist.cli.workspaces", "repair": "agent_scientist.cli.workspaces",
    "export": "agent_scientist.cli.export",
    "verify": "agent_scientist.cli.verify",
    "eval": "agent_scientist.cli.eval", "eval-compare": "agent_scientist.cli.eval",
    "mcp": "agent_scientist.cli.mcp",
    "trust": "agent_scientist.cli.trust",
    "serve": "agent_scientist.cli.serve",
    "update": "agent_scientist.cli.update",
    "papers": "agent_scientist.cli.papers",
    "memory": "agent_scientist.cli.memory",
}


class _Commands(LazyGroup):
    modules = COMMANDS
    settings = SETTINGS


app = typer.Typer(name="agent-scientist", help=HELP, no_args_is_help=True, cls=_Commands,
                  context_settings={"max_content_width": 120}, **SETTINGS)


def _version(value: bool) -> None:
    if value:
        from agent_scientist import __version__

        typer.echo(f"agent-scientist {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", metavar="", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """A command-line research scientist: searches arXiv, Semantic Scholar, OpenAlex, PubMed and more, reads papers, runs experiments, reports with citations.

    Start: agent-scientist research "Does X improve Y?" --model openai/gpt-4o-mini
    """


def main() -> None:
    try:
        app()
    except SystemExit as exc:
        from agent_scientist.cli.common import EXIT_INTERRUPTED, exit_now

        if exc.code == EXIT_INTERRUPTED:
            exit_now(EXIT_INTERRUPTED)
        raise
