"""Runs started from the page (`serve --allow-runs`): the same CLI process a terminal would start, detached,
its output appended to `serve.log` in the workspace; stopping one sends SIGINT to the pid its lock records,
so it saves a resumable state as Ctrl-C does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from agent_scientist.workspace import Workspace, WorkspaceError, unique_name

LOG_FILE = "serve.log"


class Runs:
    """The processes this server started (reaped as they end, so none is left a zombie)."""

    def __init__(self, home: Path):
        self.home = Path(home)
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()

    def _spawn(self, ws: Workspace, args: list[str]) -> subprocess.Popen:
        self.reap()
        if ws.is_locked():
            raise WorkspaceError(f"Workspace {ws.name!r} is running already.")
        env = {**os.environ, "AGENT_SCIENTIST_HOME": str(self.home), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        with open(ws.root / LOG_FILE, "ab") as log:
            log.write(f"\n$ agent-scientist {' '.join(args)}\n".encode())
            log.flush()
            proc = subprocess.Popen([sys.executable, "-m", "agent_scientist", *args], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(self.home),
                                    start_new_session=True)  # the server's Ctrl-C is not the run's
        with self._lock:
            self._procs.append(proc)
        return proc

    def start(self, question: str, name: str = "") -> Workspace:
        """A new workspace for `question` (status created), then `research QUESTION --name NAME` on it."""
        question = " ".join(question.split())
        if not question:
            raise WorkspaceError("The question is empty.")
        ws = Workspace.create(self.home, name or unique_name(self.home, question), question)
        self._spawn(ws, ["research", question, "--name", ws.name, "--quiet"])
        return ws

    def resume(self, ws: Workspace, instruction: str = "") -> None:
        args = ["resume", ws.name, "--quiet"]
        if instruction.strip():
            args += ["--instruction", instruction.strip()]
        self._spawn(ws, args)

    def stop(self, ws: Workspace) -> int:
        """SIGINT to the process holding the workspace; its pid."""
        pid = ws.lock_holder()
        if pid is None:
            raise WorkspaceError(f"Workspace {ws.name!r} is not running.")
        os.kill(pid, signal.SIGINT)
        return pid

    def reap(self) -> None:
        with self._lock:
            self._procs = [p for p in self._procs if p.poll() is None]

    def close(self) -> None:
        """At server exit, runs go on: they are the user's, as a terminal's would be. Only forget them."""
        self.reap()
