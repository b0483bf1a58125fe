"""Commands that do no work import no heavy library: checked in sys.modules of a real CLI process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import cli_env
from support.report_ws import full_workspace

# What each of these commands must never load: the model stack, the memory stack, PDFs, the MCP SDK, HTTP
# clients. (typer itself loads pydantic to coerce parameters, and rich's --help loads pygments.)
HEAVY = ("chromadb", "litellm", "smolagents", "openai", "onnxruntime", "tokenizers", "numpy", "pymupdf", "fitz",
         "mcp", "httpx", "requests", "yaml")
NOT_FOR_LISTING = HEAVY + ("pygments",)  # the live view's code highlighting is for `research` only

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
    (("--help",), HEAVY),
    (("--version",), NOT_FOR_LISTING),
    (("list",), NOT_FOR_LISTING),
    (("show", "full"), NOT_FOR_LISTING),
    (("export", "full", "--output", "-"), NOT_FOR_LISTING),
])
def test_commands_that_do_no_work_import_no_heavy_module(home, args, forbidden):
    full_workspace(home)
    code, modules, out = _loaded(home, *args)
    assert code in (0, None), out
    assert out.strip()  # the command did its job (help, version, table, report)
    assert sorted(modules & set(forbidden)) == []
    if args[0] == "export":
        assert "Dropout and Calibration" in out  # the report was rendered in that process


def test_version_prints_the_installed_version(home):
    from importlib.metadata import version

    code, modules, out = _loaded(home, "--version")
    assert code in (0, None)
    assert out.strip() == f"agent-scientist {version('agent-scientist')}"
