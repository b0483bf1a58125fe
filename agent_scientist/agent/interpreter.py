"""Where the planner's code runs: one sandboxed interpreter process per agent, never the agent's own process.

`SandboxedExecutor` is the executor smolagents' CodeAgent is given (see agent/adapter.py). It starts
interpreter_child.py inside the experiment sandbox (namespaces, read-only allow-list root, uid 65534 when
root, no network, no GPU, a clean environment without credentials, memory/pids/CPU limits), sends it each
step's code, runs the real tools here when the child asks, and sends back their JSON-serialisable answers.
A child that dies or overruns the step timeout is killed; the step fails with a note and the next step gets
a fresh interpreter. No import of smolagents here: CodeOutput comes from the adapter.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from agent_scientist.agent.interpreter_child import FrameError, encode_frame, read_frame, write_frame
from agent_scientist.config import Settings
from agent_scientist.records import EMPTY_REPLY, ToolCall

CHILD = Path(__file__).with_name("interpreter_child.py")
STEP_TIMEOUT_S = 30  # smolagents' MAX_EXECUTION_TIME_SECONDS: the code's own time, tool calls not counted
START_TIMEOUT_S = 120  # the child imports smolagents (about 1 s); far more means the machine is stuck
NOT_ISOLATED = "planner code is not isolated"
RESTARTED_NOTE = ("Note: the Python interpreter was restarted before this step: variables and imports from "
                  "earlier steps are gone (tools still work).")
_live: weakref.WeakSet[SandboxedExecutor] = weakref.WeakSet()


class InterpreterFailure(Exception):
    """A step that failed in the interpreter; its message is what the model reads."""


def isolation_warning(settings: Settings | None = None, namespaces: bool = True) -> str:
    """The warning for the start of a run and `doctor` where the kernel refuses the sandbox's namespaces."""
    from agent_scientist.sandbox import detect

    caps = detect()
    if namespaces and caps.unshare:
        return ""
    why = caps.details.get("namespaces", "") or "namespaces disabled"
    return (f"{NOT_ISOLATED}: no namespaces here ({why}); it runs in a separate process with resource limits "
            "and no credentials, but can read what your user can read.")


def doctor_check(settings: Settings) -> tuple[str, bool, str]:
    """`doctor`: whether the planner's own code runs isolated."""
    warning = isolation_warning(settings)
    return ("planner code sandbox", not warning,
            warning or "a separate interpreter in the experiment sandbox (no network, no credentials)")


def _sandbox_settings(settings: Settings) -> Settings:
    """The experiment sandbox's limits, but never network or GPUs, and no write watch (nothing is writable)."""
    return replace(settings, sandbox_network=False, sandbox_gpus="none", sandbox_write_mb=0, sandbox_write_files=0,
                   sandbox_env_allow=[])


def _tool_doc(name: str, tool: Any) -> str:
    """Name, description and inputs only: the child sees no tool object."""
    description = str(getattr(tool, "description", "") or "")
    inputs = getattr(tool, "inputs", None)
    args = ", ".join(inputs) if isinstance(inputs, dict) else ""
    return f"{name}({args}): {description}"


class SandboxedExecutor:
    """A smolagents PythonExecutor whose code runs in a sandboxed child process (see the module docstring)."""

    def __init__(self, authorized_imports: list[str], max_print_outputs_length: int, settings: Settings | None = None,
                 timeout_s: float = STEP_TIMEOUT_S, namespaces: bool = True) -> None:
        self.imports = list(authorized_imports)
        self.max_print = int(max_print_outputs_length)
        self.settings = _sandbox_settings(settings or Settings())
        self.timeout_s = timeout_s
        self.namespaces = namespaces
        self.tools: dict[str, Any] = {}
        self.variables: dict[str, Any] = {}
        self.state: dict[str, Any] = {}  # smolagents reads "_print_outputs" from here when a step fails
        self.box: Any = None
        self.start_s: float | None = None  # seconds from spawn to ready, of the current child
        self.import_s = 0.0  # of which the child spent importing smolagents
        self.protections: dict[str, bool] = {}
        self.warnings: list[str] = []
        self._rfd = self._wfd = -1
        self._ready = False
        self._tmp: str | None = None
        self._spawned = 0.0
        self._stderr: bytearray = bytearray()
        self._restarted = False  # the previous child died: the next step's logs say so
        self.box_oom = False  # the last child discarded was killed by the memory limit
        self._lock = threading.Lock()
        self.calls: list[ToolCall] = []  # the tool calls since the step recorder last took them

    # -- smolagents' PythonExecutor interface ---------------------------------------------------------------
    def send_tools(self, tools: dict[str, Any]) -> None:
        """Keep the real tools here; the child gets their names and docstrings. Starts the child if needed."""
        self.tools = dict(tools)
        self._spawn_if_needed()
        if self._ready:
            self._send_quietly(self._tools_frame())

    def send_variables(self, variables: dict[str, Any]) -> None:
        """Variables for the code (JSON values only; others are left out)."""
        for name, value in variables.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                continue
            self.variables[name] = value
        if self._ready and self.variables:
            self._send_quietly({"op": "vars", "vars": self.variables})

    def _tools_frame(self) -> dict:
        return {"op": "tools", "tools": [{"name": n, "doc": _tool_doc(n, t)} for n, t in self.tools.items()]}

    def _send_quietly(self, frame: dict) -> None:
        """Between steps: a child that cannot take the frame is replaced at the next step."""
        with contextlib.suppress(InterpreterFailure):
            self._send([frame])

    def __call__(self, code_action: str) -> Any:
        from agent_scientist.agent.adapter import CodeOutput

        if not _has_statements(code_action):  # an empty reply would otherwise read as a step that went well
            self.state = {"_print_outputs": ""}
            raise InterpreterFailure(EMPTY_REPLY)
        with self._lock:
            note = RESTARTED_NOTE + "\n" if self._restarted else ""
            self.state = {"_print_outputs": note}
            self._restarted = False
            self._ensure_ready()
            finished = False
            try:
                reply = self._run(code_action)
                finished = True
            finally:
                if not finished:  # an interrupt or a lost child: never leave a child mid-step
                    self._discard()
            if "failed" in reply:
                self.state = {"_print_outputs": note + str(reply.get("logs", ""))}
                raise InterpreterFailure(str(reply["failed"]))
            return CodeOutput(output=reply.get("output"), logs=note + str(reply.get("logs", "")),
                              is_final_answer=bool(reply.get("final")))

    # -- the child's life ----------------------------------------------------------------------------------
    def _spawn_if_needed(self) -> None:
        if self.box is not None and self.box.proc.poll() is None:
            return
        if self.box is not None:
            self._discard()
        from agent_scientist.sandbox import start_sandboxed

        self._tmp = tempfile.mkdtemp(prefix="agent-scientist-interp-")
        cfg = json.dumps({"imports": self.imports, "max_print": self.max_print})
        self._spawned = time.monotonic()
        self.box = start_sandboxed([sys.executable, "-I", str(CHILD), cfg], cwd=Path("/tmp"),
                                   writable=[], readable=[CHILD], home=Path(self._tmp) / "home",
                                   settings=self.settings, namespaces=self.namespaces,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc = self.box.proc
        self._wfd, self._rfd = proc.stdin.fileno(), proc.stdout.fileno()
        self._ready = False
        self._stderr = bytearray()
        threading.Thread(target=self._drain_stderr, args=(proc.stderr, self._stderr), daemon=True).start()
        _live.add(self)

    @staticmethod
    def _drain_stderr(stream: Any, tail: bytearray) -> None:
        """Keep the last 2 KB the child wrote to stderr (for the message when it dies)."""
        with contextlib.suppress(OSError, ValueError):
            for chunk in iter(lambda: stream.read1(4096), b""):
                tail.extend(chunk)
                del tail[:-2048]

    def _ensure_ready(self) -> None:
        self._spawn_if_needed()
        if self._ready:
            return
        try:
            hello = read_frame(self._rfd, START_TIMEOUT_S)
        except TimeoutError:
            self._lost(f"the interpreter did not start within {START_TIMEOUT_S} s")
        except (EOFError, FrameError, OSError) as exc:
            self._lost(f"the interpreter did not start ({exc})")
        if "fatal" in hello:
            why = str(hello["fatal"])
            self._discard()
            raise InterpreterFailure(f"The Python interpreter could not start: {why}")
        self.start_s = time.monotonic() - self._spawned
        self.import_s = float(hello.get("import_s") or 0.0)
        self._ready = True
        self.protections = self.box.protections(False) if self.box.poll_status() else {}
        self.warnings = list(self.box.warnings)
        frames = [self._tools_frame()]
        if self.variables:
            frames.append({"op": "vars", "vars": self.variables})
        self._send(frames)

    def _send(self, frames: list[dict]) -> None:
        try:
            for frame in frames:
                write_frame(self._wfd, frame)
        except OSError as exc:
            self._lost(f"the pipe to the interpreter broke ({exc})")

    def _run(self, code: str) -> dict:
        """Send the code, serve its tool calls, return the child's final frame."""
        self._send([{"op": "run", "code": code}])
        left = self.timeout_s
        while True:
            started = time.monotonic()
            try:
                msg = read_frame(self._rfd, max(0.0, left))
            except TimeoutError:
                self._lost(f"Code execution exceeded the maximum execution time of {self.timeout_s:g} seconds",
                           killed=True)
            except (EOFError, FrameError, OSError) as exc:
                self._lost(f"the interpreter stopped ({exc})")
            left -= time.monotonic() - started
            if "call" not in msg:
                return msg
            answer = self._call_tool(msg)
            self._send([answer])

    def _call_tool(self, msg: dict) -> dict:
        """Run the real tool for the child; an answer frame (its JSON result or an error the model reads)."""
        name = str(msg.get("call"))
        tool = self.tools.get(name)
        if tool is None:
            return {"error": f"no tool named {name!r}", "type": "NameError"}
        args, kwargs = msg.get("args") or [], msg.get("kwargs") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            return {"error": "malformed tool call", "type": "TypeError"}
        call = _call_record(name, tool, args, kwargs)
        self.calls.append(call)
        try:
            result = tool(*args, **kwargs)
        except Exception as exc:  # the tool's failure is the model's to read, as in-process
            call["ok"] = False
            return {"error": str(exc), "type": type(exc).__name__}
        try:
            encode_frame({"reply": result})
        except (TypeError, ValueError):
            return {"error": f"{name} returned a {type(result).__name__}, which cannot be passed to your code (only "
                             "JSON values: str, int, float, bool, None, list, dict)", "type": "ToolResultError"}
        except FrameError as exc:
            return {"error": f"{name}'s answer is too large to pass to your code: {exc}", "type": "ToolResultError"}
        return {"reply": result}

    def _lost(self, why: str, killed: bool = False) -> NoReturn:
        """The child is gone or must go: kill it, and fail the step with a message for the model."""
        self._discard()
        detail = why
        if self.box_oom:
            detail += " (it ran out of memory: the limit is sandbox_memory_mb)"
        tail = bytes(self._stderr).decode("utf-8", "replace").strip().splitlines()[-3:]
        if tail and not killed:
            detail += ": " + " | ".join(tail)[-300:]
        self._restarted = True
        raise InterpreterFailure(f"{detail}. The interpreter was stopped; a fresh one runs your next step, so your "
                                 "variables and imports are lost (tools still work).")

    def _discard(self) -> None:
        """Kill and reap the child, and remove its folder (idempotent)."""
        box, self.box = self.box, None
        self._ready = False
        self.box_oom = False
        if box is not None:
            box.stop()
            self.box_oom = box.oom_killed
            for stream in (box.proc.stdin, box.proc.stdout, box.proc.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def close(self) -> None:
        """End the interpreter (at the end of a run); a later step would start a fresh one."""
        self._discard()
        _live.discard(self)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._discard()

    @property
    def pid(self) -> int | None:
        """The sandboxed process's pid (the unshare or boot process), or None when none runs."""
        return self.box.proc.pid if self.box is not None else None


def _has_statements(code: str) -> bool:
    """Whether code has something to run (code that does not parse does: the interpreter reports its error)."""
    import ast

    try:
        return bool(ast.parse(code or "").body)
    except SyntaxError:
        return True


def _call_record(name: str, tool: Any, args: list, kwargs: dict) -> ToolCall:
    """A tool call as steps.jsonl keeps it: the tool, its arguments by name (scalars, strings cut), whether it
    answered (set to False when it raised)."""
    names = list(getattr(tool, "inputs", None) or {})
    given = {**{names[i] if i < len(names) else f"arg{i}": v for i, v in enumerate(args)}, **kwargs}
    kept = {str(k): (v[:200] if isinstance(v, str) else v) for k, v in given.items()
            if isinstance(v, str | int | float | bool) or v is None}
    return {"tool": name, "args": kept, "ok": True}


def take_tool_calls(agent: Any) -> list[ToolCall]:
    """The tool calls made by an agent's code and its managed agents' since the last take (for the step record)."""
    calls: list[ToolCall] = []
    for each in [agent, *getattr(agent, "managed_agents", {}).values()]:
        executor = getattr(each, "python_executor", None)
        if isinstance(executor, SandboxedExecutor):
            calls += executor.calls
            executor.calls = []
    return calls


@atexit.register
def _close_all() -> None:
    """Never leave an interpreter running after the agent exits."""
    for executor in list(_live):
        with contextlib.suppress(Exception):
            executor.close()


def close_executors(agent: Any) -> None:
    """Close the executors of an agent and its managed agents (their code may have run in a child)."""
    seen = [agent, *getattr(agent, "managed_agents", {}).values()]
    for each in seen:
        executor = getattr(each, "python_executor", None)
        if isinstance(executor, SandboxedExecutor):
            executor.close()


__all__ = ["NOT_ISOLATED", "InterpreterFailure", "SandboxedExecutor", "close_executors", "doctor_check",
           "isolation_warning", "take_tool_calls"]
