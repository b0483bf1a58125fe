"""Helpers for sandbox tests: a workspace context with chosen settings, and process lookups."""

from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path

from agent_scientist.config import load_settings
from agent_scientist.tools import ToolContext
from agent_scientist.workspace import Workspace


def lab(home: Path, **overrides) -> ToolContext:
    """A ToolContext on workspace 'lab' in `home`, with sandbox settings overridden."""
    settings = load_settings({"home": str(home), **overrides})
    return ToolContext(ws=Workspace.open_or_create(home, "lab"), settings=settings, step=7)


def script(ctx: ToolContext, name: str, code: str) -> str:
    path = ctx.ws.files_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    return name


def token() -> str:
    return f"astest-{uuid.uuid4().hex[:12]}"


def procs_with(marker: str) -> list[int]:
    """Host pids of live (non-zombie) processes whose command line contains `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
            with open(f"/proc/{entry}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state not in "ZX":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False
