"""`mcp_servers`: a real stdio MCP server (tests/support/mcp_server.py) whose tools the scripted planner
calls; name clashes, bounded answers, servers that fail at start-up or die mid-run, and no server process
left after a run, also after Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import cli_env
from support import warm
from support.mcp_http import http_server
from support.openai_server import ChatServer
from support.scripted import ScriptedModel, code

from agent_scientist.agent import loop
from agent_scientist.config import ConfigError, load_settings, trust
from agent_scientist.mcp.client import McpServersCapability, tool_name
from agent_scientist.papers.tool import PapersCapability
from agent_scientist.workspace import Workspace

SERVER = str(Path(__file__).parent / "support" / "mcp_server.py")
MODEL = "openai/gpt-4o-mini"


def _entry(name: str, *args: str, **extra) -> dict:
    return {"name": name, "command": sys.executable, "args": [SERVER, *args], **extra}


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie no one has reaped yet has stopped too
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True


def _wait_gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def _actions(ws: Workspace) -> list[dict]:
    return [r for r in ws.steps() if r.get("type") == "action"]


def _run(home: Path, servers: list[dict], replies: list[str], **settings_kw):
    ws = Workspace.create(home, "w", "What is in sample A7?")
    settings = load_settings({"home": str(home), "model": "scripted/test", **settings_kw},
                             env={"AGENT_SCIENTIST_MCP_SERVERS": json.dumps(servers)})
    model = ScriptedModel(replies)
    ours = [] if any("url" in s for s in servers) else [PapersCapability()]
    outcome = loop.run(ws, settings, model=model, worker_model=model, capabilities=[*ours, McpServersCapability()])
    return ws, model, outcome


def test_planner_calls_a_server_tool_clashes_are_prefixed_answers_bounded(home: Path, tmp_path: Path,
                                                                          capsys) -> None:
    pidfile = tmp_path / "labdb.pid"
    ws, model, outcome = _run(home, [_entry("labdb", "--pidfile", str(pidfile), env={"LAB_TOKEN": "t0k"})], [
        code("print(lookup(sample='A7'))\nprint(labdb_search_papers(query='nitrate'))"),
        code("print(env(name='LAB_TOKEN'), env(name='OPENAI_API_KEY'))\nprint(big(n=20000))"),
        code("fail(reason='locked')"),
        code('final_answer("42 mg/L")'),
    ])
    assert outcome.status == "completed", outcome.reason
    steps = _actions(ws)
    assert "sample A7: 42 mg/L nitrate" in steps[0]["observation"]
    assert "<<untrusted>>sample A7: 42 mg/L nitrate<<end untrusted>>" in steps[0]["observation"]  # framed as data
    assert "internal report on nitrate" in steps[0]["observation"]  # theirs, prefixed; ours kept its name
    assert "t0k" in steps[1]["observation"] and "<unset>" in steps[1]["observation"]  # only env passes
    assert "cut at 6,000 of" in steps[1]["observation"] and len(steps[1]["observation"]) < 7000
    assert "refused" in steps[2]["error"] and "locked" in steps[2]["error"]
    prompt = model.calls[0]
    assert "def labdb_search_papers(" in prompt and "def search_papers(" in prompt
    assert "Tools from MCP servers" in prompt and "Assay result of a lab sample" in prompt
    assert _wait_gone(int(pidfile.read_text()), timeout=5)  # stopped when the run ended


def test_tool_name_prefix_only_on_a_clash() -> None:
    assert tool_name("labdb", "lookup", {"search_papers"}) == "lookup"
    assert tool_name("lab-db", "search_papers", {"search_papers"}) == "lab_db_search_papers"
    assert tool_name("a", "x", {"x", "a_x"}) is None


def test_a_server_that_exits_at_start_up_is_a_warning_and_the_run_completes(home: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.pid"
    ws, model, outcome = _run(home, [_entry("broken", "--exit-at-start"), _entry("labdb", "--pidfile", str(good))],
                              [code("print(lookup(sample='B2'))"), code('final_answer("done")')])
    assert outcome.status == "completed"
    assert "sample B2" in _actions(ws)[0]["observation"]
    assert _wait_gone(int(good.read_text()), timeout=5)


def test_a_server_that_dies_mid_run_is_a_tool_error_and_the_run_goes_on(home: Path, tmp_path: Path, capsys) -> None:
    pidfile = tmp_path / "labdb.pid"
    ws, model, outcome = _run(home, [_entry("labdb", "--pidfile", str(pidfile))], [
        code("crash()"),
        code("print(lookup(sample='A7'))"),
        code("print('still working')"),
        code('final_answer("done")'),
    ])
    assert outcome.status == "completed"
    steps = _actions(ws)
    assert "labdb" in steps[0]["error"] and "stopped" in steps[0]["error"]
    assert "has stopped" in steps[1]["error"]
    assert "still working" in steps[2]["observation"]
    assert "MCP server 'labdb' has stopped" in capsys.readouterr().err
    assert _gone(int(pidfile.read_text()))


def test_malformed_entries_are_refused_with_a_clear_message(home: Path) -> None:
    for bad, says in [({"name": "x"}, "either command"), ({"name": "x y", "command": "c"}, "letters, digits"),
                      ({"name": "x", "command": "c", "args": "a b"}, "args a list"),
                      ({"name": "x", "url": "ftp://h"}, "url must be"), ({"name": "x", "cmd": "c"}, "unknown key")]:
        with pytest.raises(ConfigError, match=says):
            load_settings({"home": str(home)}, env={"AGENT_SCIENTIST_MCP_SERVERS": json.dumps([bad])})
    (home.parent / "agent-scientist.toml").write_text('[[mcp_servers]]\nname = "labdb"\n')
    trust(home.parent)  # a folder's mcp_servers count once the user trusts the file
    with pytest.raises(ConfigError, match="either command"):
        load_settings({"home": str(home)})


# -- through the CLI: the TOML file, warnings, doctor, Ctrl-C ----------------------------------------------

def _toml(home: Path, *entries: dict) -> None:
    text = ""
    for e in entries:
        text += "[[mcp_servers]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in e.items()) + "\n"
    (home.parent / "agent-scientist.toml").write_text(text)
    trust(home.parent)  # a folder's mcp_servers count once the user trusts the file


def _research(server: ChatServer) -> list[str]:
    return [sys.executable, "-m", "agent_scientist", "research", "What is in A7?", "--name", "w", "--model", MODEL,
            "--worker-model", "openai/worker", "--api-base", server.url, "--quiet"]


def test_cli_run_warns_for_a_broken_server_and_stops_the_others(home: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "labdb.pid"
    _toml(home, _entry("broken", "--exit-at-start"), _entry("labdb", "--pidfile", str(pidfile)))
    with ChatServer([code("print(lookup(sample='C3'))"), code('final_answer("42 mg/L")')]) as server:
        result = warm.run(_research(server), capture_output=True, text=True, env=cli_env(home),
                                cwd=home.parent, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "MCP server 'broken' did not start" in result.stderr
    assert "sample C3: 42 mg/L" in json.dumps(Workspace.open(home, "w").steps())
    assert _gone(int(pidfile.read_text()))


@pytest.mark.parametrize("during", ["model call", "tool call"])
def test_ctrl_c_leaves_no_server_running(home: Path, tmp_path: Path, during: str) -> None:
    pidfile, marker = tmp_path / "labdb.pid", tmp_path / "slow.started"
    _toml(home, _entry("labdb", "--pidfile", str(pidfile)))
    hold = threading.Event()
    first = code(f"print(slow(seconds=120, marker={str(marker)!r}))") if during == "tool call" else \
        code("print(lookup(sample='A7'))")
    with ChatServer([first, hold]) as server:
        proc = warm.Popen(_research(server), env=cli_env(home), cwd=home.parent, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not (marker.exists() if during == "tool call" else server.held >= 1):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        pid = int(pidfile.read_text())
        assert not _gone(pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        hold.set()
    assert proc.returncode == 130, err
    assert _wait_gone(pid, timeout=5)


def test_doctor_starts_each_server_and_lists_its_tools(home: Path) -> None:
    _toml(home, _entry("labdb"), _entry("broken", "--exit-at-start"))
    result = warm.run([sys.executable, "-m", "agent_scientist", "doctor"], capture_output=True, text=True,
                            env=cli_env(home), cwd=home.parent, timeout=180)
    assert "mcp server labdb: started in" in result.stdout and "lookup, search_papers" in result.stdout
    assert "FIX  mcp server broken: did not start" in result.stdout


def test_a_streamable_http_server_ours_serves_the_planner(home: Path, arxiv) -> None:
    """Both directions at once: the planner reaches our own `agent-scientist mcp --transport http` by url."""
    with http_server(home, cli_env(home, **arxiv.env()), "--workspace", "library") as url:
        ws, model, outcome = _run(home, [{"name": "library", "url": url}], [
            code("print(search_papers(query='au:Smith'))"),
            code('final_answer("found")'),
        ])
    assert outcome.status == "completed"
    assert "2402.00002v1" in _actions(ws)[0]["observation"]
