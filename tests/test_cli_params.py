"""The CLI's plain parameter parsing (cli/plain.py) gives what typer's own pydantic coercion gives: the same
value of the same type, or the same error, for every value tried."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer._click.core import Context
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param

from agent_scientist.cli.plain import PlainValue, plain_params


def _command(tmp_path: Path):
    app = typer.Typer()

    @app.command()
    def probe(
        items: list[str] = typer.Argument(None),
        text: str = typer.Option("x"),
        count: int = typer.Option(3),
        ratio: float = typer.Option(0.5),
        out: Path = typer.Option(None),
        existing: Path = typer.Option(None, exists=True, dir_okay=False),
        paths: list[Path] = typer.Option(None),
        ranged: int = typer.Option(1, min=1, max=9),
        flag: bool = typer.Option(False),
    ) -> None:
        pass

    return typer.main.get_command(app)


VALUES = ["3", "-7", "007", "+3", " 3", "3 ", "1_000", "3.5", "-0.25", "1e3", ".5", "nan", "x", "", "-", "0",
          "10", "true", "/", "a/b.txt", "~/x"]


def _outcome(runtime, value, param, ctx):
    try:
        got = runtime._coerce_value(value, param=param, ctx=ctx)
    except BadParameter as exc:
        return ("error", exc.message)
    return ("value", type(got).__name__, repr(got))


def test_plain_values_are_coerced_as_typer_would(tmp_path):
    command = _command(tmp_path)
    ctx = Context(command)
    (tmp_path / "file.txt").write_text("x")
    values = [*VALUES, str(tmp_path / "file.txt"), str(tmp_path), str(tmp_path / "missing")]
    checked = 0
    for param in command.params:
        desc = param.type_descriptor
        plain = PlainValue(parameter_info=desc.parameter_info, annotation=desc.annotation, descriptor=desc)
        typer_own = build_runtime_param(desc)
        samples: list = [*values, 3, 0.5, True, Path("a")]
        if desc.is_list:
            samples = [tuple(values[:3]), tuple(values), (), (str(tmp_path),)]
        for value in samples:
            assert _outcome(plain, value, param, ctx) == _outcome(typer_own, value, param, ctx), (param.name, value)
            checked += 1
    assert checked > 200


def test_every_parameter_gets_the_plain_coercion_and_the_help_option_too(tmp_path):
    command = _command(tmp_path)
    plain_params(command)
    help_option = command.get_help_option(Context(command))
    assert help_option is not None
    for param in [*command.params, help_option]:
        assert isinstance(param.get_runtime_param(), PlainValue), param.name


@pytest.mark.parametrize("args,expected", [
    (["a", "b", "--count", "12", "--ratio", "2", "--out", "-"], (["a", "b"], 12, 2.0, Path("-"))),
    (["--count", "-4"], ([], -4, 0.5, None)),
])
def test_a_command_parses_with_the_plain_coercion(tmp_path, args, expected):
    seen = []
    app = typer.Typer()

    @app.command()
    def probe(items: list[str] = typer.Argument(None), count: int = typer.Option(3),
              ratio: float = typer.Option(0.5), out: Path = typer.Option(None)) -> None:
        seen.append((list(items or []), count, ratio, out))

    command = typer.main.get_command(app)
    plain_params(command)
    command.main(args, standalone_mode=False)
    assert seen == [expected]
    assert type(seen[0][1]) is int and type(seen[0][2]) is float
