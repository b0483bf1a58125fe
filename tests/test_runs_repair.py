"""Finding 10 of issue 21: a corrupt runs.jsonl line stops export/show/run_experiment with a message naming
the line and the repair command (no traceback), and `repair` moves it to runs.corrupt.jsonl, nothing lost."""

from __future__ import annotations

import json

import pytest

from agent_scientist.contracts import ToolError
from agent_scientist.workspace import Workspace


def _with_bad_run(home):
    ws = Workspace.create(home, "w", "Q?")
    ws.append_run({"run": 1, "script": "a.py", "exit_code": 0, "duration_s": 0.1})
    with open(ws.runs_path, "a") as fh:
        fh.write('{"run": "abc", "script": "b.py"}\n')
    ws.append_run({"run": 2, "script": "c.py", "exit_code": 0, "duration_s": 0.2})
    return ws


@pytest.mark.parametrize("command", [["export", "w"], ["show", "w"]])
def test_a_corrupt_runs_line_names_the_line_and_the_repair(home, cli, command):
    ws = _with_bad_run(home)
    before = ws.runs_path.read_bytes()
    result = cli(*command)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "runs.jsonl" in result.stderr and "line(s) 2" in result.stderr, result.stderr
    assert "agent-scientist repair w" in result.stderr
    assert ws.runs_path.read_bytes() == before


def test_run_experiment_refuses_with_the_line_not_a_traceback(home):
    from agent_scientist.experiments.runner import next_run_number

    ws = _with_bad_run(home)
    with pytest.raises(ToolError, match=r"line\(s\) 2 .*agent-scientist repair w"):
        next_run_number(ws)


def test_repair_moves_bad_runs_lines_aside_and_keeps_the_rest(home, cli):
    ws = _with_bad_run(home)
    with open(ws.runs_path, "ab") as fh:
        fh.write(b"#### not json\n")
    result = cli("repair", "w")
    assert result.returncode == 0, result.stderr
    assert "runs.jsonl" in result.stdout and "(2, 4)" in result.stdout, result.stdout
    kept = [json.loads(line) for line in (ws.root / "runs.corrupt.jsonl").read_text().splitlines()]
    assert [k["line"] for k in kept] == [2, 4] and json.loads(kept[0]["text"])["run"] == "abc"
    assert [r["run"] for r in Workspace.open(home, "w").runs()] == [1, 2]
    assert cli("export", "w").returncode == 0
