"""The top-level command group: imports a command's module only when that command runs, and parses plain
values (str, int, float, bool, paths) without building typer's pydantic adapters (cli/plain.py).

A command that does no work (`list`, `show`, `export`) then pays for typer and its own module only: importing
every command module and pydantic (typer 0.29 coerces each parameter through a `TypeAdapter`, the help option
included) cost more than the command itself. `--help` still loads every module, for the commands' short help.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.29: vendored click, coercion through pydantic, which plain.py replaces for plain values
    from agent_scientist.cli.plain import plain_params
except ImportError:  # an older typer converts values with click's own types: nothing to replace
    def plain_params(command: Any) -> None:  # type: ignore[misc]  # the same name, for a typer without pydantic coercion
        """Nothing to do on this typer."""


class LazyCommands(Mapping[str, Any]):
    """Command name -> click command, importing the module that registers a command on first access."""

    def __init__(self, modules: Mapping[str, str], settings: dict[str, Any]) -> None:
        self._modules = dict(modules)  # the order is the order of `--help`
        self._settings = settings  # the Typer settings every command is built with (markup mode, ...)
        self._loaded: dict[str, Any] = {}  # click commands

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            module = self._modules[name]  # KeyError: no such command
            scratch = typer.Typer(**self._settings)
            importlib.import_module(module).register(scratch)
            for got, command in typer.main.get_group(scratch).commands.items():
                plain_params(command)
                self._loaded[got] = command
            if name not in self._loaded:
                raise RuntimeError(f"{module} registers no command {name!r}")
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


class LazyGroup(TyperGroup):
    """A TyperGroup whose commands are `modules` (name -> module with `register(app)`), loaded when asked for.

    Subclasses set `modules` and `settings` (the Typer settings every command is built with: markup mode, ...).
    """

    modules: Mapping[str, str] = {}
    settings: dict[str, Any] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(self.modules, self.settings)  # type: ignore[assignment]  # read-only: nothing adds commands after start-up
        plain_params(self)
