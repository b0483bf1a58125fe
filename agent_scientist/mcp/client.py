"""The `mcp_servers` capability: tools of the MCP servers named in the settings join the planner.

Each server is started when the run registers its tools and stopped when the run ends, by a run-end hook
and, should a run end before its hooks (Ctrl-C during set-up, an error), at process exit. A server that
fails to start is a warning; one that dies mid-run is a warning and a tool error the model can read.
Servers run as the user, outside the sandbox.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
from typing import Any

from agent_scientist.config import Settings
from agent_scientist.contracts import Check, Toolbox, ToolContext

RESERVED = ("final_answer",)  # smolagents' own tool


def tool_name(server: str, name: str, taken: set[str]) -> str | None:
    """The tool's own name, or `<server>_<tool>` when taken; None when both are taken."""
    if name not in taken:
        return name
    prefixed = f"{server.replace('-', '_')}_{name}"
    return prefixed if prefixed not in taken else None


class McpServersCapability:
    """Tools of external MCP servers (`mcp_servers` in agent-scientist.toml); see the module docstring."""

    name = "mcp_servers"

    def __init__(self, connect_timeout: float = 30.0) -> None:
        self.connect_timeout = connect_timeout
        self.connections: list[Any] = []
        self._lock = threading.Lock()
        self._atexit = False
        # Set on Ctrl-C (or SIGTERM): smolagents runs the planner's code in a worker thread and waits for it,
        # so a call in flight must give up for the interrupt to end the run.
        self.interrupted = threading.Event()
        self._previous: dict[int, Any] = {}

    def register(self, ctx: ToolContext, box: Toolbox) -> None:
        if not ctx.settings.mcp_servers:
            return
        from agent_scientist.agent.mcp_tools import McpConnection, McpStartError

        if not self._atexit:
            atexit.register(self.close)
            self._atexit = True
        self.interrupted.clear()
        self._watch_signals()
        taken = box.names() | set(RESERVED)
        listing = []
        try:
            starting = []
            for entry in ctx.settings.mcp_servers:  # all launched first: they start side by side
                conn = McpConnection(entry["name"], entry, limit=ctx.settings.read_chars,
                                     connect_timeout=self.connect_timeout,
                                     log_path=ctx.ws.root / "mcp" / f"{entry['name']}.log",
                                     interrupted=self.interrupted)
                with self._lock:
                    self.connections.append(conn)
                conn.begin()
                starting.append((entry, conn))
            for entry, conn in starting:
                try:
                    tools = conn.finish()
                except McpStartError as exc:
                    ctx.warnings.append(f"MCP server {entry['name']!r} did not start ({exc}); the run goes on without it.")
                    continue
                names = []
                for tool in tools:
                    name = tool_name(entry["name"], tool.name, taken)
                    if name is None:
                        ctx.warnings.append(f"MCP server {entry['name']!r}: tool {tool.name!r} left out, its name "
                                            "and the prefixed name are both taken.")
                        continue
                    tool.name = name
                    taken.add(name)
                    box.tools.append(tool)
                    names.append(name)
                listing.append(f"{entry['name']}: {', '.join(names) or '(no tools)'}")
        except BaseException:
            self.close()  # Ctrl-C or an error while starting: none is left running
            raise
        if listing:
            box.instructions.append(
                "Tools from MCP servers (other programs; they may be slow or fail; answers are cut past "
                f"{ctx.settings.read_chars:,} characters): " + "; ".join(listing) + "."
            )
        box.step_callbacks.append(self._check_alive)
        box.run_end_hooks.append(lambda agent, status: self.close())

    def _watch_signals(self) -> None:
        """Chain a handler in front of Python-level SIGINT/SIGTERM handlers that raise KeyboardInterrupt."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            if sig in self._previous or not callable(previous):
                continue  # the default action or ignored: nothing waits on a KeyboardInterrupt

            def handler(signum: int, frame: Any, previous: Any = previous) -> None:
                self.interrupted.set()
                previous(signum, frame)

            self._previous[sig] = previous
            signal.signal(sig, handler)

    def _restore_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _check_alive(self, memory_step: Any = None, agent: Any = None) -> None:
        """Warn once for each server found dead after a step."""
        for conn in list(self.connections):
            if conn.adapt is not None and not conn.alive() and not getattr(conn, "warned", False):
                conn.warned = True
                print(f"Warning: MCP server {conn.name!r} has stopped; the run goes on without its tools.",
                      file=sys.stderr, flush=True)

    def close(self) -> None:
        """Stop every server this capability started (idempotent)."""
        with self._lock:
            connections, self.connections = self.connections, []
        self._restore_signals()
        for conn in connections:
            try:
                conn.close()
            except Exception as exc:  # one server's failure to stop must not keep the others running
                print(f"Warning: MCP server {conn.name!r} did not stop cleanly: {exc}", file=sys.stderr)

    def doctor_checks(self, settings: Settings) -> list[Check]:
        """Start each configured server, list its tools, stop it."""
        from agent_scientist.agent.mcp_tools import McpConnection, McpStartError

        checks: list[Check] = []
        for entry in settings.mcp_servers:
            conn = McpConnection(entry["name"], entry, limit=settings.read_chars, connect_timeout=self.connect_timeout)
            what = f"mcp server {entry['name']}"
            try:
                tools = conn.start()
                names = ", ".join(t.name for t in tools) or "no tools"
                checks.append((what, True, f"started in {conn.started_s:.1f} s; tools: {names}"))
            except McpStartError as exc:
                where = entry.get("url") or " ".join([entry["command"], *entry.get("args", [])])
                checks.append((what, False, f"did not start ({exc}); check {where!r}"))
            finally:
                conn.close()
        return checks
