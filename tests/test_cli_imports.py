"""Commands that do no work import no heavy library: checked in sys.modules of a real CLI process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import cli_env
from support.report_ws import full_workspace

from agent_scientist.cli import COMMANDS

# What each of these commands must never load: the model stack, the memory stack, PDFs, the MCP SDK, HTTP
# clients, and pydantic (typer would build a pydantic adapter for every parameter: cli/group.py parses plain
# values itself).
HEAVY = ("chromadb", "litellm", "smolagents", "openai", "onnxruntime", "tokenizers", "numpy", "pymupdf", "fitz",
         "mcp", "httpx", "requests", "yaml", "pydantic", "pydantic_core", "pygments", "ssl")
PLAIN = HEAVY + ("rich",)  # commands that print no styled text load no rich

PROBE = """
import json, sys
sys.argv = ["agent-scientist", *json.loads(sys.argv[1])]
from agent_scientist.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(m.split(".")[0] for m in sys.modules)}), file=sys.stderr)
"""


def _loaded(home, *args: str) -> tuple[int, set[str], str]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], env=cli_env(home), capture_output=True,
                          text=True, timeout=120, cwd=home.parent)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"]), done.stdout


@pytest.mark.parametrize("args,forbidden", [
    (("--help",), PLAIN),
    (("--version",), PLAIN),
    (("list",), HEAVY),
    (("show", "full"), HEAVY),
    (("export", "full", "--output", "-"), PLAIN),  # its warning (unverified citations) prints without rich
])
def test_commands_that_do_no_work_import_no_heavy_module(home, args, forbidden):
    full_workspace(home)
    code, modules, out = _loaded(home, *args)
    assert code in (0, None), out
    assert out.strip()  # the command did its job (help, version, table, report)
    assert sorted(modules & set(forbidden)) == []
    if args[0] == "export":
        assert "Dropout and Calibration" in out  # the report was rendered in that process


def _cli_modules(home, *args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE.replace('m.split(".")[0]', "m"), json.dumps(args)],
                          env=cli_env(home), capture_output=True, text=True, timeout=120, cwd=home.parent)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stdout
    return {m for m in report["modules"] if m.startswith("agent_scientist.cli.")}


def test_a_command_imports_only_its_own_module(home):
    full_workspace(home)
    shared = {"agent_scientist.cli.group", "agent_scientist.cli.plain", "agent_scientist.cli.common"}
    assert _cli_modules(home, "list") == shared | {"agent_scientist.cli.workspaces"}
    assert _cli_modules(home, "export", "full", "--output", "-") == shared | {"agent_scientist.cli.export"}
    # --help lists every command with its short help, so it loads them all
    assert _cli_modules(home, "--help") >= set(COMMANDS.values())


def test_the_command_table_names_what_each_module_registers():
    import importlib

    import typer

    for module in dict.fromkeys(COMMANDS.values()):
        scratch = typer.Typer()
        importlib.import_module(module).register(scratch)
        registered = list(typer.main.get_group(scratch).commands)
        assert registered == [name for name, owner in COMMANDS.items() if owner == module], module


def test_a_mistyped_command_is_still_suggested(home):
    done = subprocess.run([sys.executable, "-m", "agent_scientist", "lisst"], env=cli_env(home),
                          capture_output=True, text=True, timeout=120, cwd=home.parent)
    assert done.returncode == 2
    assert "No such command 'lisst'. Did you mean 'list'?" in done.stderr


def test_an_error_message_prints_brackets_as_written(home):
    """fail() writes the text itself: a name in brackets is not taken for rich markup and dropped."""
    done = subprocess.run([sys.executable, "-m", "agent_scientist", "show", "[red]nope"], env=cli_env(home),
                          capture_output=True, text=True, timeout=120, cwd=home.parent)
    assert done.returncode == 2
    assert done.stderr.startswith("Error: Invalid workspace name '[red]nope'")


def test_version_prints_the_installed_version(home):
    from importlib.metadata import version

    code, modules, out = _loaded(home, "--version")
    assert code in (0, None)
    assert out.strip() == f"agent-scientist {version('agent-scientist')}"
