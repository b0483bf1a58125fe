"""The planner's own code runs in a sandboxed interpreter process (issue 21): escapes find nothing to take.

Found 1 and 2 go through `agent-scientist research` as they were found; the other escapes drive the
executor directly with the planner's real tools replaced by small typed functions.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time

import pytest
from conftest import cli_env
from support.openai_server import ChatServer
from support.scripted import ScriptedModel, code

from agent_scientist.agent import adapter
from agent_scientist.agent.interpreter import (
    NOT_ISOLATED,
    RESTARTED_NOTE,
    InterpreterFailure,
    SandboxedExecutor,
    isolation_warning,
)
from agent_scientist.prompting import load as load_prompts
from agent_scientist.sandbox import detect

KEY = "sk-planner-SECRET-4242"
HAVE_NS = bool(detect().unshare)
needs_ns = pytest.mark.needs_sandbox(HAVE_NS, "user namespaces")


def _research(server, *extra):
    return ["research", "Does X improve Y?", "--name", "w", "--model", "openai/gpt-4o-mini", "--worker-model",
            "openai/worker", "--api-base", server.url, "--quiet", *extra]


def _steps_text(home) -> str:
    return (home / "w" / "steps.jsonl").read_text()


def _errors(home) -> list[str]:
    return [r.get("error") or "" for r in map(json.loads, _steps_text(home).splitlines()) if r.get("type") == "action"]


def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


def opaque() -> str:
    """Return something that is not JSON."""
    return object()  # type: ignore[return-value]


@pytest.fixture
def executor(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # in the agent's environment, as in a real run
    made: list[SandboxedExecutor] = []

    def make(imports=(), tools=(add, opaque), **kwargs) -> SandboxedExecutor:
        ex = SandboxedExecutor(list(imports), 10_000, **kwargs)
        ex.send_tools({fn.__name__: adapter.make_tool(fn) for fn in tools})
        made.append(ex)
        return ex

    yield make
    for ex in made:
        ex.close()


@needs_ns
def test_found_1_memory_agent_from_code_runs_nothing(home, cli, tmp_path):
    """`memory.tools[...].from_code(...)` ran Python as the agent's user; now `memory` is a stub with no tools."""
    target = tmp_path / "owned.txt"
    payload = (f"import os\nopen({str(target)!r}, 'w').write(os.environ.get('OPENAI_API_KEY', 'none'))\n"
               "raise RuntimeError('shadow:' + open('/etc/shadow').read()[:40])")
    attack = f"t = memory.tools[list(memory.tools)[0]]\nprint(t.from_code({payload!r}))"
    with ChatServer([code(attack), code('final_answer("done")')]) as server:
        result = cli(*_research(server), env=cli_env(home, OPENAI_API_KEY=KEY))
    assert result.returncode == 0, result.stderr
    assert not target.exists()
    error = _errors(home)[0]
    assert KEY not in _steps_text(home) + result.stdout + result.stderr, [
        line for line in (_steps_text(home) + result.stdout + result.stderr).splitlines() if KEY in line]
    assert "root:" not in error and "no attribute 'tools'" in error


@needs_ns
def test_found_2_format_reaches_no_globals_and_no_key(home, cli):
    """`"{0.__wrapped__.forward.__globals__[os].environ[...]}".format(search_papers)` printed the key."""
    attack = ('key = "{0.__wrapped__.forward.__globals__[os].environ[OPENAI_API_KEY]}".format(search_papers)\n'
              'print(key)\nprint(search_papers("ti:" + key))')
    with ChatServer([code(attack), code('final_answer("done")')]) as server:
        result = cli(*_research(server), env=cli_env(home, OPENAI_API_KEY=KEY))
    assert result.returncode == 0, result.stderr
    assert KEY not in _steps_text(home) + result.stdout + result.stderr
    assert all(KEY not in json.dumps(r) for r in server.requests)  # nor sent back to the model
    assert "AttributeError" in _errors(home)[0]


ESCAPES = [
    "print(add.__globals__)",
    "print(add.__call__.__globals__)",
    "print((lambda: 0).__globals__)",
    "print(().__class__.__base__.__subclasses__())",
    "print([c for c in object.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__)",
    "def g():\n    yield 1\nit = g()\nprint(it.gi_frame.f_back.f_globals)",
    "print('{0.__class__.__init__.__globals__}'.format(add))",
    "print('{0._link}'.format(add))",
    "import os\nprint(os.environ)",
    "import sys\nprint(sys.modules)",
]


@needs_ns
@pytest.mark.parametrize("attempt", ESCAPES)
def test_dunder_frame_and_generator_escapes_give_nothing(executor, attempt):
    """Each is refused by the interpreter or, where it gets through, finds no key: the process has none."""
    ex = executor()
    try:
        out = ex(attempt)
        seen = f"{out.logs} {out.output}"
    except InterpreterFailure as exc:
        seen = str(exc)
    assert KEY not in seen and "forward" not in seen  # no agent object is in the child


@needs_ns
def test_a_full_escape_has_nothing_to_give(executor, tmp_path):
    """Planner code with every import allowed (what an escape from the interpreter would give) still finds
    no credential, no file of the agent, no way to write outside, and no network."""
    secret = tmp_path / "secret.txt"
    secret.write_text("agent-only")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    ex = executor(imports=["*"])
    script = f"""
import json, os, socket
found = {{"env": sorted(os.environ), "uid": os.getuid(), "key": os.environ.get("OPENAI_API_KEY")}}
for name, action in [("read", lambda: open({str(secret)!r}).read()),
                     ("write_tmp_path", lambda: open({str(tmp_path / 'new.txt')!r}, "w").write("x")),
                     ("write_etc", lambda: open("/etc/planted", "w").write("x")),
                     ("agent_environ", lambda: open("/proc/{os.getpid()}/environ").read()),
                     ("net", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2))]:
    try:
        action()
        found[name] = "DONE"
    except Exception as exc:
        found[name] = repr(exc)
print(json.dumps(found))
"""
    # real Python, not the restricted interpreter: what a way out of LocalPythonExecutor would give
    probe = f"import subprocess, sys\nprint(subprocess.run([sys.executable, '-c', {script!r}], capture_output=True, " \
            "text=True).stdout)"
    out = ex(probe)
    listener.close()
    found = json.loads(out.logs.strip().splitlines()[-1])
    assert found["key"] is None and not any("KEY" in n or "TOKEN" in n for n in found["env"])
    assert all(found[n] != "DONE" for n in ("read", "write_tmp_path", "write_etc", "agent_environ", "net")), found
    assert not (tmp_path / "new.txt").exists()
    if os.geteuid() == 0:
        assert found["uid"] != 0
    assert ex.protections["no_network"] and ex.protections["read_only_fs"] and ex.protections["clean_env"]


@needs_ns
def test_variables_persist_and_tools_answer_across_the_pipe(executor):
    ex = executor()
    ex("x = add(2, 3)\nprint('x is', x)")
    out = ex("y = x * 10\nprint(y)\ny")
    assert "50" in out.logs and out.output == 50 and not out.is_final_answer
    assert ex.start_s is not None


@needs_ns
def test_a_result_that_is_not_json_is_a_clear_error(executor):
    ex = executor()
    with pytest.raises(InterpreterFailure, match="opaque returned a object, which cannot be passed to your code"):
        ex("print(opaque())")
    assert "3" in ex("print(add(1, 2))").logs  # the interpreter is still the same one, and fine


@needs_ns
def test_interpreter_killed_mid_run_is_a_step_error_then_a_fresh_one(executor):
    holder: list[SandboxedExecutor] = []

    def kill_interpreter() -> str:
        """Kill the sandboxed interpreter (what an OOM kill or a crash does)."""
        os.killpg(holder[0].pid, signal.SIGKILL)
        time.sleep(0.2)
        return "killed"

    ex = executor(tools=(add, kill_interpreter))
    holder.append(ex)
    ex("kept = 41")
    first = ex.pid
    with pytest.raises(InterpreterFailure, match="variables and imports are lost"):
        ex("kill_interpreter()\nprint('after')")
    out = ex("print(add(1, 1))")  # a fresh interpreter, told so
    assert out.logs.startswith(RESTARTED_NOTE) and "2" in out.logs and ex.pid != first
    with pytest.raises(InterpreterFailure, match="kept"):
        ex("print(kept)")  # the variable went with the old interpreter


@needs_ns
def test_step_timeout_kills_the_step_and_restarts(executor):
    ex = executor(timeout_s=1)
    with pytest.raises(InterpreterFailure, match="maximum execution time of 1 seconds"):
        ex("print(sum(range(10**11)))")
    assert RESTARTED_NOTE in ex("print('fine')").logs


@needs_ns
def test_tool_time_does_not_count_toward_the_step_timeout(executor):
    def slow() -> str:
        """Take longer than the step timeout, in the agent process."""
        time.sleep(1.5)
        return "slow done"

    ex = executor(tools=(slow,), timeout_s=1)
    assert "slow done" in ex("print(slow())").logs


@needs_ns
def test_an_interrupt_in_a_tool_ends_the_step_and_leaves_no_interpreter(executor):
    def interrupted() -> str:
        """Stand in for Ctrl-C arriving while a tool runs."""
        raise KeyboardInterrupt

    ex = executor(tools=(interrupted,))
    ex("print(1)")
    pid = ex.pid
    with pytest.raises(KeyboardInterrupt):
        ex("interrupted()")
    assert ex.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_planner_and_memory_agent_code_run_in_sandboxed_executors(settings):
    """planner_agent and managed_agent give smolagents a SandboxedExecutor: no code runs in this process."""
    planner = adapter.planner_agent(tools=[adapter.make_tool(add)], model=ScriptedModel([]),
                                    prompt_templates=load_prompts("planner"), instructions=None, authorized_imports=[],
                                    managed_agents=[], step_callbacks=[], planning_interval=0, max_steps=3,
                                    max_print_chars=1000, settings=settings)
    helper = adapter.managed_agent(tools=[adapter.make_tool(add)], model=ScriptedModel([]), name="helper",
                                   description="helps", instructions="help", max_steps=2, settings=settings)
    assert isinstance(planner.python_executor, SandboxedExecutor)
    assert isinstance(helper.python_executor, SandboxedExecutor)


def test_without_namespaces_the_run_works_and_says_code_is_not_isolated(executor):
    ex = executor(namespaces=False)
    ex("z = add(1, 2)")
    assert "3" in ex("print(z)").logs
    assert isolation_warning(namespaces=False).startswith(NOT_ISOLATED)
    assert "NOT" not in NOT_ISOLATED and NOT_ISOLATED == "planner code is not isolated"


def test_doctor_names_the_planner_sandbox(home, cli):
    result = cli("doctor")
    line = next(line for line in result.stdout.splitlines() if "planner code sandbox" in line)
    assert (NOT_ISOLATED in line) != HAVE_NS, line


@needs_ns
def test_managed_memory_agent_runs_through_research_as_before(home, cli):
    """The planner asks the memory agent (a managed agent with its own sandboxed interpreter) and gets its report."""
    asked = code('print(memory(task="What do my notes say?"))')
    with ChatServer([code('remember("Finding: X improves Y.", kind="finding")'), asked,
                     code('final_answer("done")')],
                    worker_script=[code('print(recall("X"))'), code('final_answer("Notes say X improves Y.")')]
                    ) as server:
        result = cli(*_research(server), env=cli_env(home, OPENAI_API_KEY=KEY))
    assert result.returncode == 0, result.stderr
    steps = [json.loads(line) for line in _steps_text(home).splitlines()]
    observations = [s.get("observation") or "" for s in steps if s.get("type") == "action"]
    assert any("Notes say X improves Y." in o for o in observations), observations
    assert sys.executable  # the interpreter of both is this one, inside the sandbox


def _interpreters_of(root: int) -> set[int]:
    """Live planner interpreters below `root` (another test running beside this one, under xdist, has its own)."""
    from support.lab import alive, ancestors

    found = set()
    for pid in _interpreters():
        try:
            if root in ancestors(pid) and alive(pid):
                found.add(pid)
        except OSError:  # it ended while we looked
            continue
    return found


def _interpreters() -> set[int]:
    """Pids of running planner interpreters started from this checkout."""
    from agent_scientist.agent.interpreter import CHILD

    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if str(CHILD).encode() in fh.read():
                        found.add(int(entry))
            except OSError:
                continue
    return found


@needs_ns
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_ctrl_c_or_a_kill_mid_step_leaves_no_interpreter(home, sig):
    """Ctrl-C ends the run (interrupted); SIGKILL of the agent takes the interpreter with it (lifeline)."""
    import subprocess

    from support.lab import alive

    with ChatServer([code("print(sum(range(10**13)))"), code('final_answer("never")')]) as server:
        proc = subprocess.Popen([sys.executable, "-m", "agent_scientist", *_research(server)],
                                env=cli_env(home, OPENAI_API_KEY=KEY), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=home.parent)
        deadline = time.monotonic() + 120
        ours: set[int] = set()
        while not ours or len(server.requests) < 1:
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            ours |= _interpreters_of(proc.pid)
            time.sleep(0.1)
        time.sleep(1.0)  # the step's code is running in the interpreter
        proc.send_signal(sig)
        proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert json.loads((home / "w" / "workspace.json").read_text())["status"] == "interrupted"
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in ours) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in ours if alive(pid)]


@needs_ns
def test_running_out_of_memory_is_a_step_error_and_the_run_goes_on(executor, home):
    from agent_scientist.config import load_settings

    ex = executor(settings=load_settings({"home": str(home), "sandbox_memory_mb": 300}))
    ex("kept = 1")
    with pytest.raises(InterpreterFailure, match="memory|Memory"):
        ex("big = 'a' * (2 * 1024 ** 3)\nprint(len(big))")
    assert "2" in ex("print(add(1, 1))").logs
