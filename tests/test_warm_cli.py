"""The warm CLI runner (support/warm.py) behaves as a fresh `python -m agent_scientist`, and the console script runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from conftest import cli_env
from support import warm
from support.openai_server import ChatServer
from support.scripted import code
from test_cli_run import _wait_for

CLI = [sys.executable, "-m", "agent_scientist"]


def test_the_installed_console_script_runs(home: Path) -> None:
    script = shutil.which("agent-scientist", path=str(Path(sys.executable).parent)) or shutil.which("agent-scientist")
    assert script, "the agent-scientist console script is not installed"
    version = subprocess.run([script, "--version"], capture_output=True, text=True, env=cli_env(home), timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("agent-scientist ")
    listed = subprocess.run([script, "list"], capture_output=True, text=True, env=cli_env(home), timeout=120,
                            cwd=home.parent)
    assert listed.returncode == 0 and f"No workspaces in {home}" in listed.stdout


def test_a_warm_call_gets_the_calls_env_cwd_and_stdin(home: Path) -> None:
    def run(*args: str, **kw) -> subprocess.CompletedProcess:
        return warm.run([*CLI, *args], capture_output=True, text=True, env=cli_env(home), cwd=home.parent,
                        timeout=120, **kw)

    assert run("init", "a").returncode == 0
    assert warm.WARM.control is not None, warm.WARM.failed  # it ran warm, not cold
    assert (home / "a").is_dir()  # AGENT_SCIENTIST_HOME from the call's env, not the warm process's
    kept = run("delete", "a", input="n\n")
    assert kept.returncode != 0 and (home / "a").is_dir()
    gone = run("delete", "a", input="y\n")  # the answer came through the child's stdin
    assert gone.returncode == 0 and not (home / "a").exists()


def test_warm_and_cold_agree_on_exit_codes_and_output(home: Path, monkeypatch) -> None:
    calls = (["show", "nope"], ["--version"], ["research", "Q?"], ["no-such-command"])
    runs = {}
    for mode in ("0", "1"):
        monkeypatch.setenv("AGENT_SCIENTIST_TEST_COLD", mode)
        runs[mode] = [warm.run([*CLI, *args], capture_output=True, text=True, env=cli_env(home), cwd=home.parent,
                               timeout=120) for args in calls]
    for hot, cold in zip(runs["0"], runs["1"], strict=True):
        assert (hot.returncode, hot.stdout, hot.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    assert [r.returncode for r in runs["0"]] == [2, 0, 2, 2]


def test_signals_reach_the_warm_child_and_its_status_is_real(home: Path) -> None:
    hold = threading.Event()
    with ChatServer([code("print('one')"), hold]) as server:
        proc = warm.Popen([*CLI, "research", "Q?", "--name", "w", "--model", "openai/m", "--worker-model",
                           "openai/worker", "--api-base", server.url, "--quiet"], env=cli_env(home),
                          cwd=home.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc._reply is not None and proc.pid != os.getpid()  # forked warm
        assert os.getpgid(proc.pid) == os.getpgrp()  # in the caller's process group, as a Popen child
        _wait_for(lambda: server.held == 1)
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
        hold.set()


def test_an_environment_the_imports_read_runs_cold(home: Path) -> None:
    env = cli_env(home, COLUMNS="61")  # read by rich at import: a warm child would keep the warm process's value
    assert warm.WARM.start(warm._base_env()) and not warm.WARM.fits(env)
    assert warm.WARM.fits(cli_env(home, AGENT_SCIENTIST_MODEL="openai/x"))
    assert warm.WARM.fits(cli_env(home, PYTHONBREAKPOINT="ray.util.rpdb.set_trace"))  # read at breakpoint() only
    assert not warm.WARM.fits(cli_env(home, PYTHONHASHSEED="7"))  # read at the interpreter's start-up
    proc = warm.Popen([*CLI, "--version"], env=env, stdout=subprocess.PIPE, text=True)
    assert proc._reply is None and proc.communicate(timeout=120)[0].startswith("agent-scientist ")


def test_the_programs_own_settings_in_the_sessions_environment_keep_calls_warm(home: Path, monkeypatch) -> None:
    """Code run in the test process writes litellm's settings into os.environ, as the warm imports did."""
    from agent_scientist.agent.models import import_litellm

    assert warm.WARM.start(warm._base_env())
    for name in ("LITELLM_LOCAL_MODEL_COST_MAP", "LITELLM_TELEMETRY"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    import_litellm()  # as a test of the model code does in-process
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert warm.WARM.fits(cli_env(home))
    proc = warm.Popen([*CLI, "--version"], env=cli_env(home), stdout=subprocess.PIPE, text=True)
    assert proc._reply is not None and proc.communicate(timeout=120)[0].startswith("agent-scientist ")
    assert not warm.WARM.fits(cli_env(home, LITELLM_TELEMETRY="True"))  # not the default the imports set


def test_the_warm_process_starts_from_the_sessions_environment(home: Path, monkeypatch, tmp_path: Path) -> None:
    before = warm._base_env()["HOME"]
    monkeypatch.setenv("HOME", str(tmp_path))  # read at import: were it the warm one's, every other call ran cold
    assert warm._base_env()["HOME"] == before != str(tmp_path)


def test_a_lost_warm_process_sends_later_calls_cold(home: Path, monkeypatch) -> None:
    import socket

    lost = warm._Warm()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    theirs.close()  # the warm process is gone
    lost.control, lost.env, lost.reads = ours, warm._base_env(), set(warm.WARM.reads)
    monkeypatch.setattr(warm, "WARM", lost)
    result = warm.Popen([*CLI, "--version"], env=cli_env(home), stdout=subprocess.PIPE, text=True)
    assert result._reply is None and result.communicate(timeout=120)[0].startswith("agent-scientist ")  # cold
    assert lost.control is None and "did not answer" in lost.failed
