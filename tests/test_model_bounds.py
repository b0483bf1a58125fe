"""Model calls that cannot run away: output caps, a total bound with retries, cut steps, parse-error
stops, and a prompt exit after a signal even when the model server never answers."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

from conftest import cli_env
from support import warm
from support.openai_server import ChatServer
from support.scripted import ScriptedModel, code
from test_cli_run import MODEL, WORKER, _research, _spawn, _wait_for

from agent_scientist.agent import loop, models
from agent_scientist.config import load_settings
from agent_scientist.workspace import Workspace


def _messages(text: str = "hello"):
    from smolagents.models import ChatMessage, MessageRole

    return [ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": text}])]


def test_every_call_sends_its_cap_and_retries_are_visible(home):
    with ChatServer([500, "fine"], worker_script=["w"]) as server:
        s = load_settings({"home": str(home), "model": MODEL, "worker_model": WORKER, "api_base": server.url})
        planner = models.build_model(s, "planner")
        assert planner.generate(_messages()).content == "fine"
        state = models.current_call("planner")
        assert (state.attempt, state.tries, state.in_flight, state.max_output_tokens) == (2, 4, False, 4096)
        assert not state.hit_bound and state.elapsed_s > 0
        models.build_model(s, "worker").generate(_messages())
    assert [r["max_tokens"] for r in server.requests] == [4096, 4096, 1024]


def test_a_call_is_bounded_in_total_retries_included(home):
    hold = threading.Event()  # the server takes each request and never answers it
    with ChatServer([hold, hold, hold, hold]) as server:
        s = load_settings({"home": str(home), "model": MODEL, "api_base": server.url,
                           "model_timeout": 1, "model_retries": 2})
        planner = models.build_model(s, "planner")
        seen = []  # what the live view reads while the call is in flight

        def watch() -> None:
            while len(seen) < 2:
                state = models.current_call()
                if state is not None and state.in_flight and state.attempt not in seen:
                    seen.append(state.attempt)
                time.sleep(0.05)

        threading.Thread(target=watch, daemon=True).start()
        started = time.monotonic()
        try:
            planner.generate(_messages())
            raise AssertionError("a call to a silent server returned")
        except models.ModelCallTimeout as exc:
            assert "try 2 of 3" in str(exc)  # 1 s, a 1 s back-off, 1 s: the 3 s bound is spent
        elapsed = time.monotonic() - started
        time.sleep(3)  # an abandoned try must not go on retrying behind our back
        requests = len(server.requests)
        hold.set()
    state = models.current_call("planner")
    assert state.timed_out and state.hit_bound and state.attempt == 2 and state.total_s == 3
    assert 2.9 <= elapsed < 6  # model_timeout x (model_retries + 1), waits included
    assert requests == 2
    assert seen == [1, 2]


def test_a_reply_cut_at_the_cap_is_recorded_and_the_model_told(home, cli):
    long_reply = code("print('kept')\n" + "# padding\n" * 40)
    with ChatServer([long_reply, code('final_answer("ok")')]) as server:
        result = cli(*_research(home, server), env=cli_env(home, AGENT_SCIENTIST_MAX_OUTPUT_TOKENS="40"))
    assert result.returncode == 0, result.stderr
    planner = [r for r in server.requests if r["model"] != "worker"]
    assert {r["max_tokens"] for r in planner} == {40}
    assert {r["max_tokens"] for r in server.requests if r["model"] == "worker"} <= {1024}
    actions = [r for r in Workspace.open(home, "w").steps() if r.get("type") == "action"]
    assert actions[0]["cut"] is True and "cut" not in actions[1]
    told = "\n".join(m["content"] for m in planner[1]["messages"])
    assert "cut off at the output limit (40 tokens)" in told


def test_unparseable_replies_end_the_run_as_failed_and_resume_continues(home):
    ws = Workspace.create(home, "w", "Q?")
    s = load_settings({"home": str(home), "model": "scripted/test", "max_parse_errors": 3})
    model = ScriptedModel([code("print(1)"), "no code", "still none", code("print(2)"), "a", "b", "c", "never"])
    outcome = loop.run(ws, s, model=model, capabilities=[])
    assert outcome.status == "failed" and "3 replies in a row without runnable code" in outcome.reason
    assert len(model.calls) == 7  # the count restarted after the good step 4
    meta = Workspace.open(home, "w").meta
    assert (meta["status"], meta["steps"]) == ("failed", 7)
    assert "without runnable code" in meta["stop_reason"]
    again = loop.run(Workspace.open(home, "w"), s, model=ScriptedModel([code('final_answer("ok")')]),
                     capabilities=[])
    assert (again.status, again.final_answer) == ("completed", "ok")


def test_sigterm_exits_within_the_end_of_run_bound_when_the_server_never_answers(home):
    planner_hold, worker_hold = threading.Event(), threading.Event()
    with ChatServer([code("print('one')"), planner_hold], worker_script=[worker_hold]) as server:
        env = cli_env(home, AGENT_SCIENTIST_END_OF_RUN_TIMEOUT="2")

        proc = warm.Popen([sys.executable, "-m", "agent_scientist", *_research(home, server)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=home.parent)
        _wait_for(lambda: server.held == 1)  # step 2's model call hangs
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        _, err = proc.communicate(timeout=100)
        took = time.monotonic() - signalled
        planner_hold.set()
        worker_hold.set()
    assert proc.returncode == 130, err
    assert server.held == 2  # the lessons call reached the server, which never answered it
    assert "end-of-run work (lessons) skipped: not done within end_of_run_timeout (2 s)" in err
    assert took < 30  # the worker's own bound is 120 s x 4 tries; the end-of-run bound is 2 s
    ws = Workspace.open(home, "w")
    assert (ws.status, ws.meta["stop_reason"]) == ("interrupted", "interrupted")
    assert ws.steps()[-1]["end_of_run_skipped"].startswith("not done within")


def test_ctrl_c_is_prompt_during_a_bounded_call(home):
    """The call runs in its own thread; the main thread's wait is interrupted by SIGINT at once."""
    hold = threading.Event()
    with ChatServer([code("print('one')"), hold]) as server:
        proc = _spawn(home, *_research(home, server), "--max-steps", "5")
        _wait_for(lambda: server.held == 1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        hold.set()
    assert proc.returncode == 130, err
    assert Workspace.open(home, "w").meta["steps"] == 1
