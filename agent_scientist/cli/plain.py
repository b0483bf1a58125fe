"""Plain CLI values (str, bool, plain int and float, paths, lists of them, None) parsed as typer's pydantic
adapters would parse them, without building the adapters: building one imports pydantic (~100 ms), and typer
0.29 builds one for every parameter it processes, the help option included. Anything else goes to typer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer._click.core import Command, Context
from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
from typer._param_types import coerce_cli_path, routes_to_path
from typer.core import TyperGroup, _TyperParameter

INT = re.compile(r"-?[0-9]+")
FLOAT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


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
    if isinstance(command, TyperGroup) and isinstance(command.commands, dict):
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
