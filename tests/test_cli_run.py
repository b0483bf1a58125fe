"""End to end through the CLI in real subprocesses, against a loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import cli_env
from support import warm
from support.openai_server import ChatServer
from support.scripted import code

from agent_scientist.workspace import Workspace

MODEL = "openai/gpt-4o-mini"
WORKER = "openai/worker"  # the loopback server answers it from its own script


def _research(home, server, *extra, name="w"):
    return ["research", "Does X improve Y?", "--name", name, "--model", MODEL, "--worker-model", WORKER,
            "--api-base", server.url, "--quiet", *extra]


def _spawn(home, *args):
    return warm.Popen([sys.executable, "-m", "agent_scientist", *args], env=cli_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=home.parent)


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def _actions(home, name="w"):
    return [r for r in Workspace.open(home, name).steps() if r.get("type") == "action"]


def test_research_list_show_through_litellm_with_retries(home, cli):
    with ChatServer([500, code("print('looked')"), 429, code('final_answer("X improves Y.")')]) as server:
        result = cli(*_research(home, server))
    assert result.returncode == 0, result.stderr
    assert "completed" in result.stdout
    assert server.rejected == []  # every message was plain-string content
    assert all(isinstance(m["content"], str) for r in server.requests for m in r["messages"])
    meta = Workspace.open(home, "w").meta
    assert meta["status"] == "completed" and meta["steps"] == 2 and meta["tokens_in"] > 0
    assert meta["cost_usd"] > 0  # priced from litellm's bundled table

    listed = json.loads(cli("list", "--json").stdout)
    assert [(w["name"], w["status"]) for w in listed] == [("w", "completed")]
    shown = cli("show", "w")
    assert shown.returncode == 0 and "looked" in shown.stdout and "final answer" in shown.stdout
    data = json.loads(cli("show", "w", "--json").stdout)
    assert data["workspace"]["question"] == "Does X improve Y?" and len(data["steps"]) >= 4


def test_sigkill_mid_run_then_resume_in_a_new_process(home, cli):
    hold = threading.Event()
    script = [code("note = 'kiwi-42'\nprint(note)"), code("print('step two')"), hold, code("print('never')")]
    with ChatServer(script) as server:
        proc = _spawn(home, *_research(home, server))
        _wait_for(lambda: server.held == 1)  # step 3 is in flight
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        hold.set()
        ws = Workspace.open(home, "w")
        assert ws.status == "running"  # killed: nothing had the chance to say otherwise
        assert ws.live_status == "interrupted"  # ...but no process holds it, and list says so
        assert json.loads(cli("list", "--json").stdout)[0]["status"] == "interrupted"
        assert [s["step"] for s in _actions(home)] == [1, 2]

        server.script[:] = [code('final_answer("kiwi-42 was seen")')]
        result = cli("resume", "w", "--model", MODEL, "--worker-model", WORKER, "--api-base", server.url, "--quiet")
    assert result.returncode == 0, result.stderr
    assert [s["step"] for s in _actions(home)] == [1, 2, 3]
    planner_requests = [r for r in server.requests if r["model"] != "worker"]
    resumed_prompt = "\n".join(m["content"] for m in planner_requests[-1]["messages"])
    assert "kiwi-42" in resumed_prompt and "step two" in resumed_prompt  # memory rebuilt from disk
    assert Workspace.open(home, "w").meta["status"] == "completed"


def test_ctrl_c_marks_interrupted_and_exits_130(home):
    hold = threading.Event()
    with ChatServer([code("print('one')"), hold]) as server:
        proc = _spawn(home, *_research(home, server))
        _wait_for(lambda: server.held == 1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        hold.set()
    assert proc.returncode == 130, err
    assert "resume w" in out
    meta = Workspace.open(home, "w").meta
    assert (meta["status"], meta["stop_reason"], meta["steps"]) == ("interrupted", "interrupted", 1)


def test_second_process_on_a_live_workspace_is_refused(home, cli):
    hold = threading.Event()
    with ChatServer([code("print('one')"), hold, code('final_answer("done")')]) as server:
        proc = _spawn(home, *_research(home, server))
        _wait_for(lambda: server.held == 1)
        second = cli("resume", "w", "--model", MODEL, "--worker-model", WORKER, "--api-base", server.url)
        assert json.loads(cli("list", "--json").stdout)[0]["status"] == "running"  # a live holder
        hold.set()
        proc.communicate(timeout=60)
    assert second.returncode == 2
    assert f"in use by process {proc.pid}" in second.stderr
    assert proc.returncode == 0


def test_missing_model_exits_2_and_creates_nothing(home, cli):
    result = cli("research", "Does X improve Y?")
    assert result.returncode == 2
    assert "AGENT_SCIENTIST_MODEL" in result.stderr
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("args", [["show", "nope"], ["resume", "nope", "--model", MODEL], ["export", "nope"]])
def test_unknown_workspace_exits_2(home, cli, args):
    result = cli(*args)
    assert result.returncode == 2 and "nope" in result.stderr


def test_init_then_research_uses_it_and_a_second_research_is_refused(home, cli):
    assert cli("init", "mine").returncode == 0  # no question yet (another question is refused: test_cli_firstrun)
    assert cli("init", "mine").returncode == 2
    with ChatServer([code('final_answer("ok")')]) as server:
        result = cli(*_research(home, server, name="mine"))
        assert result.returncode == 0, result.stderr
        again = cli(*_research(home, server, name="mine"))
    assert again.returncode == 2 and "agent-scientist resume mine" in again.stderr
    assert Workspace.open(home, "mine").question == "Does X improve Y?"


def test_corrupt_workspace_json_is_reported_not_rewritten(home, cli):
    cli("init", "bad")
    meta = home / "bad" / "workspace.json"
    meta.write_text("{not json")
    result = cli("show", "bad")
    assert result.returncode == 2 and "not valid JSON" in result.stderr
    assert meta.read_text() == "{not json"
    listed = cli("list")
    assert listed.returncode == 0 and "unreadable" in listed.stdout


def test_max_steps_stop_is_clean_and_resumable(home, cli):
    with ChatServer([code("print(1)"), code("print(2)"), code('final_answer("fin")')]) as server:
        first = cli(*_research(home, server, "--max-steps", "2"))
        assert first.returncode == 0 and "agent-scientist resume w" in first.stdout
        assert Workspace.open(home, "w").meta["stop_reason"] == "max_steps"
        second = cli("resume", "w", "--quiet")  # the models and endpoint the workspace recorded
    assert second.returncode == 0, second.stderr
    assert Workspace.open(home, "w").final_answer() == "fin"
    assert {r["model"] for r in server.requests} == {"gpt-4o-mini", "worker"}
    assert Workspace.open(home, "w").meta["api_base"] == server.url


def test_doctor_reports_what_to_fix(home, cli):
    result = cli("doctor")
    assert result.returncode == 1 and "AGENT_SCIENTIST_MODEL" in result.stdout
    with ChatServer() as server:
        ok = cli("doctor", env=cli_env(home, AGENT_SCIENTIST_MODEL=MODEL, AGENT_SCIENTIST_API_BASE=server.url))
    assert f"api base: {server.url}/models answers" in ok.stdout and "workspace home" in ok.stdout
    env = {k: v for k, v in cli_env(home, AGENT_SCIENTIST_MODEL="anthropic/claude-x").items() if k != "ANTHROPIC_API_KEY"}
    assert "ANTHROPIC_API_KEY" in cli("doctor", env=env).stdout


def test_offline_start_makes_no_network_call(home, cli):
    """Everything but the model server goes through a proxy that counts connections: none may come."""
    import socket

    seen = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            seen.append(conn.recv(200))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = cli_env(home, HTTPS_PROXY=proxy, HTTP_PROXY=proxy, https_proxy=proxy, http_proxy=proxy,
                  NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    env.pop("CI", None)  # libraries that phone home skip it under CI=true (OpenVINO's import did): a user has no CI
    try:
        with ChatServer([code('final_answer("ok")')]) as server:
            result = cli(*_research(home, server), env=env)
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert result.returncode == 0, result.stderr
    assert seen == []


def test_research_with_a_folder_of_pdfs(home, cli, tmp_path):
    from support.pdfs import make_corrupt, make_plain

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(make_plain("Dropout lowers calibration error.", title="Dropout notes"))
    (folder / "b.pdf").write_bytes(make_corrupt())
    with ChatServer([code('final_answer("ok")')]) as server:
        result = cli(*_research(home, server, "--papers", str(folder)))
    assert result.returncode == 0, result.stderr
    assert "1 added" in result.stdout and "1 failed" in result.stdout and "b.pdf" in result.stderr
    papers = Workspace.open(home, "w").papers()
    assert [p["title"] for p in papers] == ["Dropout notes"] and papers[0]["id"].startswith("local:")


def test_all_tools_in_one_run_from_the_default_relative_home(home, tmp_path):
    """A user's first run: default ./workspaces, arXiv, notes, a file, an experiment, a cited answer, a report."""
    from conftest import run_cli
    from support.arxiv_server import ArxivServer, entry
    from support.pdfs import make_plain

    arxiv = ArxivServer([entry("2401.01234v2", "Label smoothing and calibration", published="2024-01-03",
                               pdf=make_plain("Label smoothing lowers ECE.", pages=2))]).start()
    pdf_dir = tmp_path / "pdfs"
    pdf_dir.mkdir()
    (pdf_dir / "notes.pdf").write_bytes(make_plain("Our lab notes on smoothing.", title="Smoothing notes"))
    script = [
        code("papers = search_papers('ti:smoothing')\nprint([p['id'] for p in papers])"),
        code("print(read_paper('2401.01234', page=1))"),
        code("print(remember('Label smoothing lowers ECE.', source='arXiv:2401.01234v2', page=1))"),
        code("print(edit_file('create', 'exp.py', file_text='import json\\njson.dump({\"ece\": 0.031}, "
             "open(\"metrics.json\", \"w\"))\\n'))"),
        code("r = run_experiment('exp.py')\nprint(r['exit_code'], r['metrics'])"),
        code("final_answer('It helps: ECE 0.031 in run 1 [arXiv:2401.01234 p.1]; see [arXiv:9999.99999 p.2].')"),
    ]
    env = cli_env(home, **arxiv.env())
    env.pop("AGENT_SCIENTIST_HOME")  # the default: ./workspaces in the current directory
    try:
        with ChatServer(script) as server:
            result = run_cli(home, *_research(home, server, "--papers", str(pdf_dir)), env=env)
    finally:
        arxiv.stop()
    assert result.returncode == 0, result.stderr
    ws = Workspace.open(home.parent / "workspaces", "w")
    observations = [s.get("observation") or s.get("error") for s in _actions(home.parent / "workspaces")]
    assert "2401.01234v2" in observations[0] and "local:" in observations[0]
    assert "Label smoothing lowers ECE" in observations[1]
    assert "0 {'ece': 0.031}" in observations[4], observations[4]
    report = ws.report_path.read_text()
    assert "Label smoothing and calibration" in report and "[1, p.1]" in report and "ece = 0.031" in report
    answer, appendix = report.split("## Appendix: unverified citations")
    assert "9999.99999" in appendix and "9999.99999" not in answer
    assert "1 citation(s) could not be verified" in result.stderr


def test_ctrl_c_during_set_up_exits_130_and_leaves_a_usable_workspace(home, cli):
    hold = threading.Event()  # the first model call waits, so the run cannot finish before the signal
    with ChatServer([hold, code('final_answer("ok")')]) as server:
        proc = _spawn(home, *_research(home, server))
        _wait_for(lambda: (home / "w" / "workspace.json").exists())  # created; models and memory loading
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        hold.set()
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        status = Workspace.open(home, "w").live_status
        assert status in ("created", "interrupted")  # whichever instant the signal hit
        follow = ("resume", "w") if status != "created" else ("research", "Does X improve Y?", "--name", "w")
        again = cli(*follow, "--model", MODEL, "--worker-model", WORKER, "--api-base", server.url, "--quiet")
    assert again.returncode == 0, again.stderr
