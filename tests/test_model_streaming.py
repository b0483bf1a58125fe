"""Streamed model calls against a loopback server that behaves like llama.cpp: a slow server still producing is
never cut and re-sent, Ctrl-C closes the stream (the server stops generating) and an immediate resume works,
a stall names its setting, a chat template that drops the system message gets the instructions another way,
and a busy server is waited for."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import urllib.request

from conftest import cli_env
from support import warm
from support.openai_server import ChatServer
from support.scripted import code
from test_cli_run import _research, _wait_for

from agent_scientist.workspace import Workspace

SLOW = code("print('slow')\n" + "# a long comment line of padding\n" * 60)  # ~500 tokens of 4 characters


def _popen(home, *args, **env):
    return warm.Popen([sys.executable, "-m", "agent_scientist", *args], env=cli_env(home, **env),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=home.parent)


def test_ctrl_c_closes_the_stream_and_an_immediate_resume_works(home, cli):
    with ChatServer([SLOW], tokens_per_s=40) as server:
        proc = _popen(home, *_research(home, server))
        _wait_for(lambda: server.generated >= 20)  # step 1's reply is streaming
        proc.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        _, err = proc.communicate(timeout=60)
        _wait_for(lambda: server.closed_at, timeout=5)
        generated = server.generated
        assert proc.returncode == 130, err
        assert server.closed_at[0] - interrupted < 1.0  # the client closed the connection at once
        assert generated < 500  # and the server stopped generating the abandoned reply
        server.add(code('final_answer("resumed")'))
        again = cli("resume", "w", "--quiet", env=cli_env(home))
    assert again.returncode == 0, again.stderr
    assert "server busy" not in again.stderr and "did not answer" not in again.stderr
    assert Workspace.open(home, "w").status == "completed"


def test_a_slow_server_still_producing_is_never_cut_nor_sent_again(home, cli):
    """model_timeout 8 s, a reply that takes ~12 s to stream: each token resets the stall bound."""
    with ChatServer([code("print('x')\n" + "# pad pad pad pad pad pad\n" * 36), code('final_answer("ok")')],
                    tokens_per_s=20) as server:
        result = cli(*_research(home, server, "--max-steps", "3"),
                     env=cli_env(home, AGENT_SCIENTIST_MODEL_TIMEOUT="8", AGENT_SCIENTIST_MODEL_STALL_TIMEOUT="8"))
    assert result.returncode == 0, result.stderr
    planner = [r for r in server.requests if r.get("model") != "worker"]
    assert all(r["stream"] for r in planner)
    sent = [str(r["messages"]) for r in planner]
    assert len(set(sent)) == len(sent)  # no prompt was sent twice
    steps = [r for r in Workspace.open(home, "w").steps() if r.get("type") == "action"]
    assert steps[0]["tokens_out"] > 200 and steps[0]["duration_s"] > 8  # longer than model_timeout, not cut


def test_a_stalled_call_is_closed_and_names_its_setting(home, cli):
    hold = threading.Event()
    with ChatServer([hold]) as server:
        result = cli(*_research(home, server), env=cli_env(home, AGENT_SCIENTIST_MODEL_STALL_TIMEOUT="1",
                                                             AGENT_SCIENTIST_MODEL_RETRIES="0"))
        hold.set()
    assert result.returncode != 0
    assert "gave no token for 1 s (model_stall_timeout)" in result.stderr
    assert "raise model_stall_timeout (now 1 s)" in result.stderr


def test_a_reply_cut_at_the_cap_names_max_output_tokens_with_the_measured_rate(home, cli):
    with ChatServer([code("print('kept')\n" + "# padding\n" * 40), code('final_answer("ok")')],
                    tokens_per_s=200) as server:
        result = cli(*_research(home, server), env=cli_env(home, AGENT_SCIENTIST_MAX_OUTPUT_TOKENS="40"))
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "raise max_output_tokens (now 40)" in out and "tokens/s measured" in out


def test_a_template_that_drops_the_system_message_still_gets_the_instructions(home, cli):
    with ChatServer([code("print(1)"), code('final_answer("ok")'), code('final_answer("again")')],
                    drop_system=True) as server:
        result = cli(*_research(home, server), env=cli_env(home, AGENT_SCIENTIST_SYSTEM_PROMPT="auto"))
        assert result.returncode == 0, result.stderr
        assert result.stderr.count("drops the system message") == 1
        assert Workspace.open(home, "w").meta["system_prompt"] == "user"
        seen = [s["messages"] for s in server.seen if s["model"] != "worker"]
        assert "final_answer" not in "".join(m["content"] for m in seen[0])  # the first try was blind
        assert all("final_answer" in m[0]["content"] for m in seen[1:])  # the instructions, in the user message
        again = cli("resume", "w", "--quiet", "--instruction", "once more",
                    env=cli_env(home, AGENT_SCIENTIST_SYSTEM_PROMPT="auto"))  # the workspace remembers its switch
        assert again.returncode == 0, again.stderr
        assert "drops the system message" not in again.stderr
        resumed = [s["messages"] for s in server.seen if s["model"] != "worker"]
        assert len(resumed) > len(seen) and all("final_answer" in m[0]["content"] for m in resumed[len(seen):])


def test_system_prompt_is_checked_at_load(home, cli):
    result = cli("research", "Q?", "--model", "openai/x", env=cli_env(home, AGENT_SCIENTIST_SYSTEM_PROMPT="both"))
    assert result.returncode == 2 and "Setting 'system_prompt' must be one of auto, system, user" in result.stderr


def test_preflight_waits_for_a_busy_server(home, cli):
    hold = threading.Event()
    with ChatServer([hold, code('final_answer("ok")')], models_delay_s=6) as server:
        def busy() -> None:  # another client's request keeps the single slot busy
            request = urllib.request.Request(server.url + "/chat/completions", method="POST",
                                             data=b'{"model": "x", "messages": []}',
                                             headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=60).read()

        threading.Thread(target=busy, daemon=True).start()
        _wait_for(lambda: server.held == 1)

        def release() -> None:  # the busy request ends once the preflight has found the server busy
            _wait_for(lambda: server.models_delayed >= 1, 120)
            time.sleep(1)
            hold.set()

        threading.Thread(target=release, daemon=True).start()
        result = cli(*_research(home, server), env=cli_env(home))
    assert result.returncode == 0, result.stderr
    assert "server busy:" in result.stderr and "waiting up to 30 s" in result.stderr


def test_ctrl_c_skips_the_lessons_within_3_s_and_labels_the_end_of_run_call(home):
    """The default end_of_run_timeout is 15 s; after an interrupt the lessons get 2 s at most, counted from the interrupt."""
    worker_hold = threading.Event()
    with ChatServer([code("print('one')"), threading.Event()], worker_script=[worker_hold]) as server:
        proc = _popen(home, *_research(home, server))
        _wait_for(lambda: server.held == 1)  # step 2's model call is in flight
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        worker_hold.set()
    assert proc.returncode == 130, err
    assert "end of run: lessons (worker model call)" in out
    assert "end-of-run work (lessons) skipped: not done within end_of_run_timeout (2 s)" in err


def test_a_try_after_a_stall_waits_until_the_server_is_free(home, capfd):
    from agent_scientist.agent import models
    from agent_scientist.agent.adapter import text_message
    from agent_scientist.config import load_settings

    hold = threading.Event()  # the server holds the first request (no token), and /models is slow meanwhile
    with ChatServer([hold, "abandoned", "fine"], models_delay_s=5) as server:
        s = load_settings({"home": str(home), "model": "openai/gpt-4o-mini", "api_base": server.url,
                           "model_stall_timeout": 3, "model_timeout": 30, "model_retries": 1})
        planner = models.build_model(s, "planner")
        threading.Timer(8, hold.set).start()  # the abandoned request ends; the server is free again
        reply = planner.generate([text_message("user", "hello")])
    assert reply.content == "fine"
    assert "still busy with the abandoned request; waiting for" in capfd.readouterr().err
    assert server.chat_calls == 2 and server.max_in_flight == 1  # the second try never queued behind the first


def test_an_interrupted_command_exits_without_the_interpreters_teardown():
    """exit_now (the entry point's way out after Ctrl-C): atexit handlers run and buffered output is flushed,
    but objects are not torn down (freeing litellm's and chromadb's took seconds on a loaded machine)."""
    script = ("import atexit, sys\n"
              "class Torn:\n"
              "    def __del__(self): print('torn down')\n"
              "kept = Torn()\n"
              "atexit.register(lambda: print('atexit ran'))\n"
              "print('buffered', end=' ')\n"
              "from agent_scientist.cli.common import exit_now\n"
              "exit_now(130 if sys.argv[1] == 'fast' else 0)\n")
    fast = subprocess.run([sys.executable, "-c", script, "fast"], capture_output=True, text=True, timeout=60)
    assert (fast.returncode, fast.stdout.split()) == (130, ["buffered", "atexit", "ran"])
    normal = subprocess.run([sys.executable, "-c", script.replace("exit_now(", "sys.exit("), "normal"],
                            capture_output=True, text=True, timeout=60)
    assert "torn down" in normal.stdout  # what the normal exit does and exit_now skips
