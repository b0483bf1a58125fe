"""The worker side of a Ray run: unpack files/, run the sandbox, send back output and changed files.

This runs inside a Ray task. It imports only the standard library and the project's own sandbox,
which travel with the task (runtime_env py_modules), so workers need no install of this project.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PREFIX = "agent-scientist-run-"
KEPT_PREFIX = "agent-scientist-kept-"


def _remove_stale(base: str) -> None:
    """Folders of runs whose worker died (force-cancelled, lost): their owner pid is gone."""
    for path in Path(base).glob(PREFIX + "*"):
        try:
            owner = int(path.name[len(PREFIX):].split("-")[0])
        except ValueError:
            continue
        if not Path(f"/proc/{owner}").exists() and sys.platform.startswith("linux"):
            shutil.rmtree(path, ignore_errors=True)


def _read_capped(path: Path, limit: int) -> bytes:
    """A plain file's first `limit` bytes, never following a link the experiment planted."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return b""
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return b""
        return fh.read(max(0, limit))


def _where() -> dict[str, str]:
    where = {"host": socket.gethostname()}
    with contextlib.suppress(Exception):
        import ray

        if ray.is_initialized():  # on a Ray worker; elsewhere get_runtime_context() would start a local cluster
            where["node_id"] = ray.get_runtime_context().get_node_id()
            where["node_ip"] = ray.util.get_node_ip_address()
    return where


def execute(files: list[tuple[str, bytes]], job: dict[str, Any]) -> dict[str, Any]:
    """Run `python argv` in the sandbox in a fresh copy of files/; return output, files and placement."""
    from agent_scientist import sandbox
    from agent_scientist.experiments.snapshot import changed_since, snapshot

    base = tempfile.gettempdir()
    _remove_stale(base)
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    keep = False
    try:
        files_dir = root / "files"
        files_dir.mkdir()
        for rel, data in files:
            if os.path.isabs(rel) or ".." in Path(rel).parts:
                continue  # the driver never sends these; refuse them all the same
            target = files_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        settings = dataclasses.replace(job["settings"], sandbox_python=sys.executable)
        if job.get("gpus") and "CUDA_VISIBLE_DEVICES" not in settings.sandbox_env_allow:
            settings.sandbox_env_allow = [*settings.sandbox_env_allow, "CUDA_VISIBLE_DEVICES"]
        command = [sys.executable, *job["argv"]]
        before = snapshot(files_dir)
        result = sandbox.run_sandboxed(command, cwd=files_dir, workspace=root,
                                       writable=[files_dir, root / "sandbox"], home=root / "sandbox" / "home",
                                       settings=settings, timeout=job["timeout"], out_dir=root / "out",
                                       namespaces=job.get("namespaces", True))
        changed = changed_since(files_dir, before)
        budget = int(job["max_download"])
        logs = {}
        for name in ("stdout", "stderr"):
            logs[name] = _read_capped(root / "out" / f"{name}.txt", budget)
            budget -= len(logs[name])
        back: list[tuple[str, bytes]] = []
        left: list[str] = []
        for rel in changed:
            path = files_dir / rel
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size > budget:
                left.append(rel)
                continue
            data = _read_capped(path, st.st_size)
            budget -= len(data)
            back.append((rel, data))
        kept = ""
        if left:  # what did not fit stays on the worker, where the answer says it is
            keep = True
            kept_root = root.with_name(KEPT_PREFIX + root.name[len(PREFIX):])
            with contextlib.suppress(OSError):
                root.rename(kept_root)
                root = kept_root
            kept = str(root / "files")
        return {
            "exit_code": result.exit_code, "timed_out": result.timed_out, "interrupted": result.interrupted,
            "duration_s": result.duration_s, "protections": result.protections, "notes": result.notes,
            "command": command, "logs": logs, "files": back, "left": left, "kept_dir": kept,
            "tails": {name: (bytes(cap.tail), cap.total, cap.saved)
                      for name, cap in (("stdout", result.stdout), ("stderr", result.stderr))},
            "where": _where(), "python": sys.executable, "sandbox_module": sandbox.__file__,
            "finished": time.time(), "gpus": result.gpus, "stopped": result.stopped,
            "oom_killed": result.oom_killed, "warnings": result.warnings,
        }
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
