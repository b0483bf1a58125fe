"""The `agent-scientist` command: a typer app assembled from one module per command group.

Only typer, rich and light project modules are imported here; each command imports the
heavy libraries it needs (smolagents, litellm, chromadb, pymupdf) when it runs.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="agent-scientist",
    help="A command-line research scientist: searches arXiv, Semantic Scholar and OpenAlex, reads papers, runs experiments, reports with citations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help, as wide as the terminal: typer's rich help prints `<bool>` after flags such as
    # --quiet and --help, which take no value (patching typer's internals was the other way).
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)

# Modules exposing `register(app)`.
COMMAND_MODULES = (
    "agent_scientist.cli.run",
    "agent_scientist.cli.workspaces",
    "agent_scientist.cli.papers",
    "agent_scientist.cli.memory",
    "agent_scientist.cli.export",
    "agent_scientist.cli.verify",
    "agent_scientist.cli.eval",
    "agent_scientist.cli.mcp",
    "agent_scientist.cli.trust",
    "agent_scientist.cli.serve",
    "agent_scientist.cli.update",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


def _version(value: bool) -> None:
    if value:
        from agent_scientist import __version__

        typer.echo(f"agent-scientist {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", metavar="", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """A command-line research scientist: searches arXiv, Semantic Scholar and OpenAlex, reads papers, runs experiments, reports with citations.

    Start: agent-scientist research "Does X improve Y?" --model openai/gpt-4o-mini
    """


_register()


def main() -> None:
    app()
