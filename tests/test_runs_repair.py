"""Finding 10 of issue 21: a corrupt runs.jsonl line stops export/show/run_experiment with a message naming
the line and the repair command (no traceback), and `repair` moves it to runs.corrupt.jsonl, nothing lost."""

from __future__ import annotations

import json
from typing import get_type_hints

import pytest

from agent_scientist.contracts import ToolError
from agent_scientist.records import Repaired, StepRecord, TokenUsage, Usage
from agent_scientist.workspace import Workspace, evidence_usage


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


def test_repair_and_the_counters_hold_the_keys_their_records_name(home):
    ws = _with_bad_run(home)
    steps: list[StepRecord] = [
        {"type": "action", "step": 1, "tokens_in": 10, "tokens_out": 4, "cost_usd": 0.01, "worker_tokens_in": 3},
        {"type": "evidence", "worker_tokens_in": 5, "worker_tokens_out": 2, "worker_cost_usd": 0.002}]
    for step in steps:
        ws.append_step(step)
    done = Workspace.open(home, "w").repair()
    assert set(done) == set(get_type_hints(Repaired)) and done["runs_moved"] == [2] and done["moved"] == []
    assert done["counters"] == {"steps": 1, "tokens_in": 18, "tokens_out": 6, "cost_usd": 0.012}
    assert set(done["counters"]) == set(get_type_hints(Usage))
    usage = evidence_usage(ws.steps())
    assert usage == {"tokens_in": 5, "tokens_out": 2, "cost_usd": 0.002} and set(usage) == set(get_type_hints(TokenUsage))
