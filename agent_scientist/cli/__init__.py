"""The `agent-scientist` command: a typer app assembled from one module per command group.

Only typer, rich and light project modules are imported here; each command imports the
heavy libraries it needs (smolagents, litellm, chromadb, pymupdf) when it runs.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="agent-scientist",
    help="A command-line research scientist: searches arXiv, reads papers, runs experiments, reports with citations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
    """A command-line research scientist: searches arXiv, reads papers, runs experiments, reports with citations.

    Start: agent-scientist research "Does X improve Y?" --model openai/gpt-4o-mini
    """


def _flags_without_placeholder() -> None:
    """typer prints `<bool>` after flags such as --quiet and --help, which take no value: print nothing."""
    try:
        from typer.core import TyperOption
    except ImportError:  # pragma: no cover - another typer layout
        return
    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: object) -> str | None:
        return "" if getattr(self, "is_flag", False) else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_without_placeholder()
_register()


def main() -> None:
    app()
