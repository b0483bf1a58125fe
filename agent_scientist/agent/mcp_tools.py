"""Tools of an external MCP server as smolagents tools, through smolagents' MCP support.

smolagents' `MCPClient` is mcpadapt's `MCPAdapt` (an SDK client session on its own event-loop thread) plus
`SmolAgentsAdapter`, which makes smolagents tools of MCP tools. We keep the adapter (structured output on)
and run the session ourselves, to add what a research run needs and MCPClient lacks: the server's stderr in
a log file rather than over the planner's live view, a start that fails as soon as the server exits (not
after the whole connect timeout) and says why, calls bounded by a deadline even when the server has died,
server errors raised as ToolError (so the model reads them as failures), and answers cut past a size.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import tempfile
import threading
import time
from contextlib import AsyncExitStack
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from agent_scientist.contracts import ToolError
from agent_scientist.untrusted import mark, mark_all

GRACE_S = 5.0  # beyond the server's own timeout, for the answer to cross the thread boundary


class McpStartError(Exception):
    """The server did not start or did not answer `initialize` and `tools/list`; the message says why."""


def _reason(exc: BaseException | None) -> str:
    """The innermost message of an (often grouped) exception, in one line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if exc is None:
        return "it stopped without saying why"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


class _Session:
    """One MCP client session on its own event-loop thread, as mcpadapt's MCPAdapt runs it, but with the
    server's stderr sent to a log file and a start-up failure kept (not printed) for the caller."""

    def __init__(self, params: Any, timeout: float, errlog: TextIO):
        self.params, self.timeout, self.errlog = params, timeout, errlog
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.task: asyncio.Task | None = None
        self.session: Any = None
        self.tools: list[Any] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="mcp-session")

    async def _connect(self) -> None:
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import stdio_client
        from mcp.client.streamable_http import streamable_http_client

        async with AsyncExitStack() as stack:
            if isinstance(self.params, StdioServerParameters):
                read, write = await stack.enter_async_context(stdio_client(self.params, errlog=self.errlog))
            else:
                read, write, _ = await stack.enter_async_context(streamable_http_client(self.params))
            session = await stack.enter_async_context(
                ClientSession(read, write, read_timeout_seconds=timedelta(seconds=self.timeout)))
            await session.initialize()
            self.tools = (await session.list_tools()).tools
            self.session = session
            self.ready.set()
            await asyncio.Event().wait()  # hold the session open until close() cancels this task

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(self._connect())
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # the server exited or refused: reported by McpConnection.start
            self.error = exc


class McpConnection:
    """One configured server: `start()` gives its tools, `alive()` says if it still runs, `close()` ends it."""

    def __init__(self, name: str, params: dict, limit: int, connect_timeout: float = 30.0,
                 log_path: Path | None = None, interrupted: threading.Event | None = None):
        self.name = name
        self.interrupted = interrupted or threading.Event()  # set on Ctrl-C: a call in flight gives up
        self.log_path = log_path  # the server's stderr; a temporary file when None
        self.params = params
        self.limit = limit  # characters of one answer
        self.timeout = float(params.get("timeout", 60))
        self.connect_timeout = connect_timeout
        self.adapt: Any = None
        self.started_s = 0.0
        self.dead = False  # set when a call finds the connection closed

    def _server_parameters(self) -> Any:
        if "url" in self.params:
            return self.params["url"]
        from mcp import StdioServerParameters

        # Only the variables named in `env` (plus PATH, HOME, USER, SHELL, TERM, LOGNAME) reach the server.
        return StdioServerParameters(command=self.params["command"], args=list(self.params.get("args", [])),
                                     env=dict(self.params.get("env", {})))

    def start(self) -> list[Any]:
        """Start the server and adapt its tools; McpStartError when it exits, refuses or is silent."""
        self.begin()
        return self.finish()

    def begin(self) -> None:
        """Launch the server and its session without waiting (so several servers start together)."""
        self.began = time.monotonic()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.errlog = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        else:
            self.errlog = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self.adapt = _Session(self._server_parameters(), self.timeout, self.errlog)
        self.adapt.thread.start()

    def finish(self) -> list[Any]:
        """Wait for `initialize` and `tools/list`, then adapt the tools; McpStartError when that fails."""
        from mcpadapt.smolagents_adapter import SmolAgentsAdapter

        deadline = self.began + self.connect_timeout
        while not self.adapt.ready.wait(0.02):
            if not self.adapt.thread.is_alive():
                reason = f"{_reason(self.adapt.error)}{self._stderr_tail()}"
                self.close()
                raise McpStartError(reason)
            if time.monotonic() > deadline:
                self.close()
                raise McpStartError(f"no answer within {self.connect_timeout:.0f} s")
        adapter = SmolAgentsAdapter(structured_output=True)
        session, listed = self.adapt.session, self.adapt.tools
        tools = []
        for mcp_tool in listed:
            tool = adapter.adapt(partial(self._call, session, mcp_tool.name), mcp_tool)
            tool.forward = partial(self._bounded, tool.forward)  # answers cut past `limit`, with a note
            tool.mcp_server = self.name
            tools.append(tool)
        self.started_s = time.monotonic() - self.began
        return tools

    def _stderr_tail(self) -> str:
        """The server's last line on stderr, which usually says why it stopped."""
        try:
            self.errlog.flush()
            if self.log_path is not None:
                text = self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            else:
                self.errlog.seek(0)
                text = self.errlog.read()[-2000:]
        except (OSError, ValueError):
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return f"; it said: {lines[-1][:200]}" if lines else ""

    def alive(self) -> bool:
        return bool(not self.dead and self.adapt is not None and self.adapt.thread.is_alive() and self.adapt.task is not None
                    and not self.adapt.task.done())

    def _call(self, session: Any, tool_name: str, arguments: dict | None) -> Any:
        """One tools/call, bounded by the server's timeout; every failure is a ToolError the model reads."""
        if not self.alive():
            raise ToolError(f"MCP server {self.name!r} has stopped; its tools cannot be used in this run. "
                            "Go on with your other tools.")
        future = asyncio.run_coroutine_threadsafe(
            session.call_tool(tool_name, arguments or {}, read_timeout_seconds=timedelta(seconds=self.timeout)),
            self.adapt.loop)
        deadline = time.monotonic() + self.timeout + GRACE_S
        while True:
            try:
                result = future.result(timeout=0.1)
                break
            except concurrent.futures.TimeoutError:
                if self.interrupted.is_set():
                    future.cancel()
                    raise ToolError(f"{tool_name} (MCP server {self.name!r}) was interrupted.") from None
                if not self.alive():  # the session ended under the call: its answer will never come
                    future.cancel()
                    raise ToolError(f"MCP server {self.name!r} stopped during {tool_name}; its tools cannot be "
                                    "used in this run. Go on with your other tools.") from None
                if time.monotonic() > deadline:
                    future.cancel()
                    raise ToolError(f"MCP server {self.name!r} did not answer {tool_name} within "
                                    f"{self.timeout:.0f} s. Try a smaller request, or go on without it.") from None
            except Exception as exc:
                if "connection closed" in str(exc).lower():
                    self.dead = True
                state = "" if self.alive() else " It has stopped; its tools cannot be used in this run."
                raise ToolError(f"MCP server {self.name!r} failed on {tool_name}: {_reason(exc)}.{state}") from None
        if result.isError:
            text = " ".join(getattr(part, "text", "") for part in result.content).strip()
            raise ToolError(f"{tool_name} (MCP server {self.name!r}) refused: {text[:self.limit] or 'no reason given'}")
        if not result.content and result.structuredContent is None:
            raise ToolError(f"{tool_name} (MCP server {self.name!r}) returned nothing.")
        return result

    def _bounded(self, forward: Any, *args: Any, **kwargs: Any) -> Any:
        """The server's answer, bounded, and framed as untrusted data (its text is never an instruction)."""
        answer = forward(*args, **kwargs)
        source = f"MCP {self.name}"
        text = answer if isinstance(answer, str) else None
        if text is None:
            try:
                text = json.dumps(answer, ensure_ascii=False, default=str)
            except (TypeError, ValueError):
                return answer  # an image or other object: the planner's own limits apply
            if len(text) <= self.limit:
                return mark_all(answer, source)
        if len(text) <= self.limit:
            return mark_all(answer, source)
        return (mark(text[:self.limit], source) + f"\n[... cut at {self.limit:,} of {len(text):,} characters by "
                "agent-scientist; ask this tool for less (a narrower query, fewer results, a page or offset)]")

    def close(self, timeout: float = 10.0) -> None:
        """Stop the session: the SDK closes the server's stdin, then terminates and kills it if it lingers."""
        adapt, self.adapt = self.adapt, None
        if adapt is None:
            return
        if adapt.task is not None and not adapt.task.done() and not adapt.loop.is_closed():
            adapt.loop.call_soon_threadsafe(adapt.task.cancel)
        if adapt.thread.is_alive():
            adapt.thread.join(timeout)
        if not adapt.thread.is_alive() and not adapt.loop.is_closed():
            adapt.loop.close()
        errlog = getattr(self, "errlog", None)
        if errlog is not None and not adapt.thread.is_alive():
            errlog.close()
