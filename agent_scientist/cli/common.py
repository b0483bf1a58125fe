"""What every command shares: settings from flags, opening workspaces, errors and exit codes."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

from agent_scientist.config import ConfigError, Settings, load_settings
from agent_scientist.workspace import Workspace, WorkspaceError

# Exit codes: 0 done, 1 run failed, 2 usage or configuration error, 130 interrupted.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

console = Console(soft_wrap=True)  # commands in messages stay on one line, copyable
err_console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err_console.print(f"[yellow]Warning:[/] {message}", highlight=False)


def settings(**flags: Any) -> Settings:
    """Settings with these flags on top (None means the flag was not given)."""
    try:
        return load_settings(flags)
    except ConfigError as exc:
        fail(str(exc))


def open_workspace(s: Settings, name: str) -> Workspace:
    try:
        return _adopt_recorded(s, Workspace.open(s.home, name))
    except WorkspaceError as exc:
        fail(str(exc))


def open_or_create_workspace(s: Settings, name: str) -> Workspace:
    """For commands that fill a workspace before any run (`papers add`, `memory add`, ...)."""
    try:
        return _adopt_recorded(s, Workspace.open_or_create(s.home, name))
    except WorkspaceError as exc:
        fail(str(exc))


def _adopt_recorded(s: Settings, ws: Workspace) -> Workspace:
    """Keep using what the workspace ran with (memory server, models, endpoint) unless told otherwise."""
    meta = ws.meta
    if not s.memory_url and meta.get("memory_url"):
        s.memory_url = meta["memory_url"]
    recorded = meta.get("models") or {}
    if not s.model and recorded.get("planner"):
        s.model = recorded["planner"]
        if not s.worker_model and recorded.get("worker") != recorded["planner"]:
            s.worker_model = recorded.get("worker") or ""
        if not s.api_base:
            s.api_base = meta.get("api_base") or ""
    return ws


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
