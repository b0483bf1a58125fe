"""The model call in flight, recorded where `serve` reads it: <workspace>/inflight.json names the model, its role,
since when, and the tokens streamed so far while a real streamed call runs against the loopback server; the file
goes when the call ends, when it fails, and when a new run starts over a killed run's file."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from support.openai_server import ChatServer
from support.scripted import code
from test_cli_run import _wait_for

from agent_scientist.agent.models import CallLog, ask_model, build_model, record_calls
from agent_scientist.config import load_settings
from agent_scientist.workspace import Workspace

LONG = code("print('x')\n" + "# a padding line of the reply\n" * 12)  # ~100 tokens of four characters


def _model(home, server: ChatServer, role: str = "planner", **extra):
    settings = load_settings({"home": str(home), "model": "openai/gpt-4o-mini", "worker_model": "openai/worker",
                              "api_base": server.url, "model_retries": 0, "system_prompt": "system", **extra})
    return build_model(settings, role)


def _read(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # not there (yet, or any more)
        return None


def test_a_streaming_call_is_recorded_with_its_tokens_and_cleared_at_the_end(home):
    ws = Workspace.create(home, "w", "q")
    with ChatServer([LONG], tokens_per_s=25) as server:
        model = _model(home, server)
        record_calls(ws.inflight_path, model)
        begun = time.time()
        call = threading.Thread(target=ask_model, args=(model, "system", "user"))
        call.start()
        seen: list[dict] = []

        def streaming() -> bool:
            record = _read(ws.inflight_path)
            seen.extend([record] if record and record["calls"][0]["tokens"] > 0 else [])
            return bool(seen)

        _wait_for(streaming, 30)
        record = seen[0]
        assert record["pid"] == os.getpid() and record["v"] >= 1
        (entry,) = record["calls"]
        assert entry["role"] == "planner" and entry["model"] == "openai/gpt-4o-mini"
        assert begun - 1 <= entry["started_at"] <= time.time()
        assert entry["attempt"] == 1 and entry["tries"] == 1
        call.join(60)
    assert not ws.inflight_path.exists()  # the call ended: nothing in flight


def test_a_failed_call_clears_its_record_and_a_killed_runs_file_goes(home):
    ws = Workspace.create(home, "w", "q")
    ws.inflight_path.write_text(json.dumps({"v": 1, "pid": 999999, "calls": [{"role": "planner"}]}))
    with ChatServer(worker_script=[400]) as server:
        model = _model(home, server, role="worker")
        log = record_calls(ws.inflight_path, model)
        assert isinstance(log, CallLog) and not ws.inflight_path.exists()  # the killed run's record is gone
        with pytest.raises(Exception, match="400"):
            ask_model(model, "system", "user")
    assert not ws.inflight_path.exists()


def test_a_run_records_the_planner_call_in_flight(home, cli):
    from conftest import cli_env

    hold = threading.Event()
    with ChatServer([code("print('one')"), hold, code('final_answer("done")')]) as server:
        import subprocess
        import sys

        proc = subprocess.Popen([sys.executable, "-m", "agent_scientist", "research", "q?", "--name", "r",
                                 "--model", "openai/gpt-4o-mini", "--worker-model", "openai/worker",
                                 "--api-base", server.url, "--quiet"], env=cli_env(home), cwd=home.parent,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: server.held == 1, 120)  # step 2's planner call waits on the server
            ws = Workspace.open(home, "r")
            record = _read(ws.inflight_path)
            assert record is not None and record["pid"] == proc.pid == ws.lock_holder()
            assert [(c["role"], c["model"]) for c in record["calls"]] == [("planner", "openai/gpt-4o-mini")]
        finally:
            hold.set()
            out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert not Workspace.open(home, "r").inflight_path.exists()
