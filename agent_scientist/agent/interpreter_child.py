"""The planner's Python interpreter, run inside the experiment sandbox as `python -I interpreter_child.py CONFIG`.

It holds the planner's variables across steps and evaluates each step's code with smolagents'
LocalPythonExecutor (authorised imports, print capture, output bound). Tools are stubs: a call is sent to
the agent process as a frame and the answer awaited, so nothing of the agent (its modules, tool and model
objects, environment) exists here. Frames are a 4-byte big-endian length and UTF-8 JSON, each at most
MAX_FRAME bytes. The agent process imports this module for the same frame functions; it imports only the
standard library at the top (smolagents inside `main`, i.e. inside the sandbox).
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from typing import Any

MAX_FRAME = 32 * 1024 * 1024
_HEADER = 4


class FrameError(Exception):
    """A frame too large, not JSON, or cut short by the other side closing the pipe."""


def encode_frame(obj: Any) -> bytes:
    """One frame for `obj`; raises FrameError past MAX_FRAME and TypeError/ValueError if not JSON."""
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if len(data) > MAX_FRAME:
        raise FrameError(f"{len(data):,} bytes is more than the {MAX_FRAME:,} a frame may carry")
    return len(data).to_bytes(_HEADER, "big") + data


def write_frame(fd: int, obj: Any) -> None:
    """Write one frame (blocking); BrokenPipeError when the reader has gone."""
    view = memoryview(encode_frame(obj))
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(size - got, 1 << 20))
        if not chunk:
            raise EOFError("the pipe was closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, timeout: float | None = None) -> Any:
    """Read one frame; TimeoutError after `timeout` seconds, EOFError at end of pipe, FrameError if bad."""
    deadline = None if timeout is None else time.monotonic() + timeout
    size = int.from_bytes(_read_exact(fd, _HEADER, deadline), "big")
    if size > MAX_FRAME:
        raise FrameError(f"a frame of {size:,} bytes announced, more than {MAX_FRAME:,}")
    try:
        return json.loads(_read_exact(fd, size, deadline).decode("utf-8", "surrogatepass"))
    except ValueError as exc:
        raise FrameError(f"not a JSON frame: {exc}") from exc


class _Link:
    """The child's end of the pipe pair: tool calls go out, answers come back."""

    __slots__ = ("rfd", "wfd", "errors")

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.errors: dict[str, type] = {}

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        try:
            write_frame(self.wfd, {"call": name, "args": list(args), "kwargs": kwargs})
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}() got an argument that is not a JSON value (str, number, bool, None, list, "
                            f"dict): {exc}") from None
        answer = read_frame(self.rfd)
        if "error" in answer:
            raise self.error_class(str(answer.get("type") or "ToolError"))(answer["error"])
        return answer.get("reply")

    def error_class(self, name: str) -> type:
        """An exception class with the real tool error's name, so messages read as they did in-process."""
        name = name if name.isidentifier() else "ToolError"
        if name not in self.errors:
            self.errors[name] = type(name, (Exception,), {})
        return self.errors[name]


class ToolStub:
    """What a tool is inside the sandbox: its name and docstring; calling it asks the agent process."""

    def __init__(self, name: str, doc: str, link: _Link) -> None:
        self.name, self.__doc__, self._link = name, doc, link

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._link.call(self.name, args, kwargs)

    def __repr__(self) -> str:
        return f"<tool {self.name}>"


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    rfd, wfd = os.dup(0), os.dup(1)  # the pipes; fds 0 and 1 are pointed away so stray writes cannot corrupt them
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)
    link = _Link(rfd, wfd)
    started = time.perf_counter()
    try:
        from smolagents.local_python_executor import LocalPythonExecutor

        executor = LocalPythonExecutor(cfg["imports"], max_print_outputs_length=cfg["max_print"],
                                       timeout_seconds=None)  # the agent process times each step
    except Exception as exc:  # noqa: BLE001 - e.g. an authorised import that is not installed
        write_frame(wfd, {"fatal": f"{type(exc).__name__}: {exc}"})
        return
    write_frame(wfd, {"ready": os.getpid(), "import_s": time.perf_counter() - started})
    while True:
        try:
            msg = read_frame(rfd)
        except (EOFError, FrameError):
            return
        op = msg.get("op")
        if op == "tools":
            executor.send_tools({t["name"]: ToolStub(t["name"], t.get("doc", ""), link) for t in msg["tools"]})
        elif op == "vars":
            executor.send_variables(msg["vars"])
        elif op == "run":
            try:
                out = executor(msg["code"])
            except Exception as exc:  # noqa: BLE001 - the step's error, for the model
                logs = str(executor.state.get("_print_outputs", ""))
                write_frame(wfd, {"failed": str(exc), "logs": logs})
                continue
            try:
                write_frame(wfd, {"output": _jsonable(out.output), "logs": out.logs, "final": out.is_final_answer})
            except FrameError as exc:
                write_frame(wfd, {"failed": f"The step's result is too large to return: {exc}", "logs": ""})


if __name__ == "__main__":
    main()
