"""One vocabulary for how a run ended (issue 25, item 5): the live view, `list`, `show`, report.md and JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import cli_env
from support.openai_server import ChatServer
from support.scripted import code

from agent_scientist.records import stop_label
from agent_scientist.workspace import Workspace

MODEL = "openai/gpt-4o-mini"
DATA = Path(__file__).parent / "data" / "landing1"


def test_the_words_are_defined_once_for_every_ending():
    assert stop_label("completed", "final_answer") == "completed"
    assert stop_label("interrupted", "max_steps") == "stopped: max steps"
    assert stop_label("interrupted", "budget") == "stopped: budget"
    assert stop_label("interrupted", "interrupted") == "interrupted: Ctrl-C"
    assert stop_label("interrupted", None) == "interrupted: Ctrl-C"
    assert stop_label("running", None, held=False) == "killed"
    assert stop_label("failed", "APIConnectionError:  Connection\nerror.") == "failed: APIConnectionError: Connection error."


def test_a_max_steps_stop_reads_the_same_on_screen_in_show_report_and_json(home, cli):
    with ChatServer([code("x = 1"), code("y = 2")]) as server:
        ran = cli("research", "Q?", "--name", "w", "--model", MODEL, "--worker-model", MODEL,
                  "--api-base", server.url, "--quiet", "--max-steps", "1")
    assert ran.returncode == 0, ran.stderr
    assert "stopped: max steps · 1 planner steps this run" in ran.stdout
    assert "Stopped: max steps. Continue with: agent-scientist resume w" in ran.stdout
    assert "interrupted (max_steps)" not in ran.stdout
    shown = cli("show", "w").stdout
    assert shown.splitlines()[0].split(None, 1)[1] == "stopped: max steps"
    assert "── run ended: stopped: max steps" in shown
    assert json.loads(cli("show", "w", "--json").stdout)["stopped"] == "stopped: max steps"
    report = (home / "w" / "report.md").read_text()
    assert "- **Status:** stopped: max steps (partial report)" in report
    assert "Status: interrupted" not in report and "**Status:** interrupted" not in report
    exported = json.loads(cli("export", "w", "--format", "json", "--output", "-").stdout)
    assert exported["stopped"] == "stopped: max steps"
    assert [r["stopped"] for r in exported["steps"]["records"] if r["type"] == "run_end"] == ["stopped: max steps"]
    assert json.loads(cli("list", "--json").stdout)[0]["stopped"] == "stopped: max steps"


def test_list_wraps_a_long_failure_instead_of_cutting_it(home, cli):
    cause = ("AgentGenerationError: Error in generating model output: litellm.APIConnectionError: "
             "OpenAIException - Connection error while talking to the server")
    cli("init", "w", "--question", "Does X improve Y?")
    Workspace.open(home, "w").update(status="failed", stop_reason=cause)
    for columns in ("80", "200"):
        out = cli("list", env=cli_env(home, COLUMNS=columns)).stdout
        lines = out.splitlines()
        assert all(len(line) <= int(columns) for line in lines[1:])  # the first names the home folder
        head = lines[1]
        if head.startswith("name"):  # a table: the status column's text, line by line
            status = [line[head.index("status"):head.index("steps")] for line in lines[2:]]
        else:  # narrow: the name, then the status wrapped, then the counters
            status = [line for line in lines[2:] if " steps · " not in line][:-1]
        assert " ".join(" ".join(status).split()) == f"failed: {cause}", out  # every word, in its column
        assert "…" not in out
        assert sum("Does X improve Y?" in line for line in lines) == 1


def test_an_old_workspace_reads_in_the_new_words(home, cli):
    shutil.copytree(DATA, home / "landing1")
    assert json.loads(cli("list", "--json").stdout)[0]["stopped"] == "completed"
    shown = cli("show", "landing1")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].split(None, 1)[1] == "completed"
    assert "run ended: completed" in shown.stdout and "(final_answer)" not in shown.stdout
    ws = Workspace.open(home, "landing1")
    ws.update(status="interrupted", stop_reason="max_steps")  # how the first landing recorded a clean stop
    assert ws.stopped == "stopped: max steps"
