"""The top-level command group: imports a command's module only when that command runs, and parses plain
values (str, int, float, bool, paths) without building typer's pydantic adapters.

A command that does no work (`list`, `show`, `export`) then pays for typer and its own module only: importing
every command module and pydantic (typer 0.29 coerces each parameter through a `TypeAdapter`, the help option
included) cost more than the command itself. `--help` still loads every module, for the commands' short help.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer._click.core import Command, Context
from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
from typer._param_types import coerce_cli_path, routes_to_path
from typer.core import TyperGroup, _TyperParameter

INT = re.compile(r"-?[0-9]+")
FLOAT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class LazyCommands(Mapping[str, Command]):
    """Command name -> click command, importing the module that registers a command on first access."""

    def __init__(self, modules: Mapping[str, str], settings: dict[str, Any]) -> None:
        self._modules = dict(modules)  # the order is the order of `--help`
        self._settings = settings  # the Typer settings every command is built with (markup mode, ...)
        self._loaded: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
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


def plain_params(command: Command) -> None:
    """Give each typer parameter of `command` (and its subcommands) the plain coercion below."""
    # click makes the help option when it first parses; make it now (with the command's own context
    # settings, as click would), so it gets the plain coercion too: its None value alone imported pydantic.
    help_option = command.get_help_option(Context(command, **command.context_settings))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if isinstance(param, _TyperParameter) and getattr(param, "_runtime_param", "absent") is None:
            param._runtime_param = PlainValue(parameter_info=param.type_descriptor.parameter_info,
                                              annotation=param.type_descriptor.annotation,
                                              descriptor=param.type_descriptor)
    if isinstance(command, TyperGroup) and not isinstance(command.commands, LazyCommands):
        for sub in command.commands.values():
            plain_params(sub)


@dataclass(frozen=True)
class PlainValue(RuntimeParam):
    """str, bool, plain int and float, and path values as typer's pydantic adapters would give them; any other
    value or type (choices, ranges, parsers, dates, odd number spellings) goes to typer's own coercion."""

    descriptor: TypeDescriptor

    def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
        info = self.parameter_info
        if info.parser is None and getattr(info, "click_type", None) is None:
            annotation = self.annotation
            if getattr(annotation, "__origin__", None) is list and isinstance(value, (list, tuple)):
                item = annotation.__args__[0]
                got = [_plain(item, v, self, param, ctx) for v in value]
                if all(g is not _NO for g in got):
                    return got
            else:
                got = _plain(annotation, value, self, param, ctx)
                if got is not _NO:
                    return got
        return build_runtime_param(self.descriptor)._coerce_value(value, param=param, ctx=ctx)


_NO = object()


def _plain(annotation: Any, value: Any, runtime: PlainValue, param: Any, ctx: Context) -> Any:
    """The coerced value, or _NO where typer's own coercion must decide."""
    info, kind = runtime.parameter_info, type(value)
    if annotation is str:
        return value if kind is str else _NO
    if annotation is bool:
        return value if kind is bool else _NO
    ranged = info.min is not None or info.max is not None
    if annotation is int and not ranged:
        if kind is int:
            return value
        if kind is str and INT.fullmatch(value):
            return int(value)
    if annotation is float and not ranged:
        if kind is int or kind is float:
            return float(value)
        if kind is str and FLOAT.fullmatch(value):
            return float(value)
    if annotation is Path and info.path_type is None and routes_to_path(annotation, info):
        # typer makes the Path with a pydantic adapter, then checks it: the same, without the adapter
        if isinstance(value, Path):
            return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
        if kind is str and value:
            return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    return _NO
