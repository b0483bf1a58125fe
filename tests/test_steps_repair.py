"""No silent loss: damaged steps.jsonl stops resume/show/export until `repair`, which keeps every
line and never lowers a total; workspace names are checked on every path a user gives."""

from __future__ import annotations

import json

import pytest
from support.scripted import ScriptedModel, code

from agent_scientist.agent import loop
from agent_scientist.config import load_settings
from agent_scientist.fsio import append_jsonl, read_jsonl
from agent_scientist.workspace import Workspace, WorkspaceError


def _finished(home, steps=3):
    """A workspace after a real (scripted) run of `steps` action steps, stopped at max_steps."""
    ws = Workspace.create(home, "w", "Q?")
    s = load_settings({"home": str(home), "model": "scripted/test", "max_steps": steps})
    loop.run(ws, s, model=ScriptedModel([code(f"print({i})") for i in range(steps)]), capabilities=[])
    return Workspace.open(home, "w")


def _damage_middle(ws, garbage=b"#### not json\n"):
    """Overwrite the 3rd line (the second action) with garbage; returns the file's new bytes."""
    lines = ws.steps_path.read_bytes().splitlines(keepends=True)
    lines[2] = garbage
    ws.steps_path.write_bytes(b"".join(lines))
    return ws.steps_path.read_bytes()


def test_a_torn_last_line_is_the_expected_damage_and_is_kept_aside(tmp_path):
    log = tmp_path / "steps.jsonl"
    append_jsonl(log, {"n": 1})
    with open(log, "ab") as fh:
        fh.write(b'{"n": 2, "half')  # killed mid-write
    assert read_jsonl(log, strict=True) == [{"n": 1}]
    append_jsonl(log, {"n": 3})
    assert read_jsonl(log, strict=True) == [{"n": 1}, {"n": 3}]  # the torn text is no middle line
    kept = [json.loads(line) for line in (tmp_path / "steps.corrupt.jsonl").read_text().splitlines()]
    assert kept == [{"line": 2, "text": '{"n": 2, "half'}]


def test_a_whole_last_record_missing_its_newline_stays(tmp_path):
    log = tmp_path / "steps.jsonl"
    log.write_bytes(b'{"n": 1}\n{"n": 2}')
    append_jsonl(log, {"n": 3})
    assert read_jsonl(log, strict=True) == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert not (tmp_path / "steps.corrupt.jsonl").exists()


@pytest.mark.parametrize("command", [["show", "w"], ["show", "w", "--json"], ["export", "w"],
                                     ["resume", "w", "--model", "openai/x", "--api-base", "http://127.0.0.1:9"]])
def test_a_corrupt_middle_line_stops_the_command_and_names_the_repair(home, cli, command):
    ws = _finished(home)
    before = _damage_middle(ws)
    meta_before = ws.meta_path.read_bytes()
    result = cli(*command)
    assert result.returncode == 2, result.stdout
    assert "line(s) 3 are unreadable" in result.stderr and "agent-scientist repair w" in result.stderr
    assert ws.steps_path.read_bytes() == before and ws.meta_path.read_bytes() == meta_before


def test_resume_in_process_refuses_too(home):
    ws = _finished(home)
    _damage_middle(ws)
    s = load_settings({"home": str(home), "model": "scripted/test"})
    with pytest.raises(WorkspaceError, match="agent-scientist repair w"):
        loop.run(ws, s, model=ScriptedModel([]), capabilities=[])


def test_repair_keeps_lines_renumbers_nothing_and_never_lowers_totals(home, cli):
    ws = _finished(home)
    recorded = {k: ws.meta[k] for k in ("steps", "tokens_in", "tokens_out", "cost_usd")}
    lost_line = ws.steps_path.read_bytes().splitlines()[2]
    _damage_middle(ws, b"\xff\xfe garbage\n")
    with open(ws.steps_path, "ab") as fh:
        fh.write(b"[1, 2]\n")  # valid JSON, but not a record
    result = cli("repair", "w")
    assert result.returncode == 0, result.stderr
    assert "Moved 2 unreadable line(s) (3, 6)" in result.stdout, result.stdout
    kept = [json.loads(line) for line in (home / "w" / "steps.corrupt.jsonl").read_text().splitlines()]
    assert [k["line"] for k in kept] == [3, 6] and kept[1]["text"] == "[1, 2]"
    assert "\\xff\\xfe garbage" in kept[0]["text"]
    ws = Workspace.open(home, "w")
    actions = [r["step"] for r in ws.steps() if r.get("type") == "action"]
    assert actions == [1, 3]  # step 2 was the damaged line: nothing renumbered
    assert {k: ws.meta[k] for k in recorded} == recorded  # the recount is lower; the record stays
    assert json.loads(lost_line)["step"] == 2

    s = load_settings({"home": str(home), "model": "scripted/test", "max_steps": 1})
    loop.run(ws, s, model=ScriptedModel([code("print('next')")]), capabilities=[])
    ws = Workspace.open(home, "w")
    assert [r["step"] for r in ws.steps() if r.get("type") == "action"] == [1, 3, 4]  # 2 is not reused
    assert ws.meta["steps"] == 4 and ws.meta["tokens_in"] > recorded["tokens_in"]
    assert cli("repair", "w").stdout.startswith("steps.jsonl is readable")


@pytest.mark.parametrize("command", [
    ["init", "abc\n"], ["init", "../x"], ["show", "../elsewhere"], ["show", "/tmp"],
    ["memory", "add", "/tmp/abs", "a note"], ["memory", "list", "../w2"], ["repair", "../w"], ["export", "a/b"],
])
def test_names_are_checked_on_every_path(home, cli, command):
    outside = home.parent / "elsewhere"
    outside.mkdir()
    (outside / "workspace.json").write_text(json.dumps({"status": "created", "name": "elsewhere"}))
    result = cli(*command)
    assert result.returncode == 2, result.stdout
    assert "Invalid workspace name" in result.stderr
    assert sorted(p.name for p in home.iterdir()) == []
    assert not (home.parent / "x").exists() and not (home.parent / "tmp").exists()
