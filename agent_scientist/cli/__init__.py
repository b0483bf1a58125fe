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
    "agent_scientist.cli.papers",
    "agent_scientist.cli.memory",
    "agent_scientist.cli.export",
    "agent_scientist.cli.verify",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register()


def main() -> None:
    app()
