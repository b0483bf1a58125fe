"""What every command shares: settings from flags, opening workspaces, errors and exit codes."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn, cast

import typer

from agent_scientist.config import ConfigError, Settings, load_settings
from agent_scientist.workspace import Workspace, WorkspaceError

if TYPE_CHECKING:
    from rich.console import Console

# Exit codes: 0 done, 1 run failed, 2 usage or configuration error, 130 interrupted.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130



class _LazyConsole:
    """A rich Console made on first use: a command that prints nothing through it never imports rich."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    @property
    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __enter__(self) -> Console:  # rich's Live and Progress enter the console they are given
        return self.real.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.real.__exit__(*exc)


console = cast("Console", _LazyConsole(soft_wrap=True))  # commands in messages stay on one line, copyable
err_console = cast("Console", _LazyConsole(stderr=True, soft_wrap=True))


def exit_now(code: int) -> NoReturn:
    """End an interrupted command at once, its state already on disk: the atexit handlers run and stdio is
    flushed, but the interpreter's teardown (seconds of freeing litellm's, chromadb's and onnxruntime's
    objects on a loaded machine) is skipped, so Ctrl-C ends a run within 3 s."""
    import atexit
    import contextlib
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe: nothing more to say
            stream.flush()
    os._exit(code)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    _say("Error:", "1;31", message)
    raise typer.Exit(code)


def warn(message: str) -> None:
    _say("Warning:", "33", message)


def _say(label: str, sgr: str, message: str) -> None:
    """`label message` on stderr, the label coloured on a terminal (unless NO_COLOR), the message as written:
    no rich markup, so text in brackets (a citation, a usage line) prints as it is, and rich is not imported."""
    stream = sys.stderr
    color = stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    stream.write(f"\x1b[{sgr}m{label}\x1b[0m {message}\n" if color else f"{label} {message}\n")
    stream.flush()


def warn_unpriced(settings: Settings, flag: str, budget: float) -> None:
    """Say before a run when a budget is blind: a model litellm cannot price and no `price_per_mtok`."""
    if not budget:
        return
    from agent_scientist.agent.models import unpriced_models

    for model in unpriced_models(settings):
        warn(f"{model} has no known price: its cost counts as $0, so {flag} {budget:g} is not enforced. "
             "Set a price: AGENT_SCIENTIST_PRICE_PER_MTOK=<USD per million tokens>.")


def cli_settings(**flags: Any) -> Settings:
    """Settings with these flags on top (None means the flag was not given)."""
    try:
        return load_settings(flags)
    except ConfigError as exc:
        fail(str(exc))


def open_workspace(settings: Settings, name: str, check_steps: bool = False) -> Workspace:
    """Open NAME; with `check_steps`, refuse (naming the repair command) if steps.jsonl or runs.jsonl is damaged."""
    try:
        ws = _adopt_recorded(settings, Workspace.open(settings.home, name))
        if check_steps:
            ws.steps()
            ws.runs()
        return ws
    except WorkspaceError as exc:
        fail(str(exc))


def open_or_create_workspace(settings: Settings, name: str) -> Workspace:
    """For commands that fill a workspace before any run (`papers add`, `memory add`, ...)."""
    try:
        return _adopt_recorded(settings, Workspace.open_or_create(settings.home, name))
    except WorkspaceError as exc:
        fail(str(exc))


def _adopt_recorded(settings: Settings, ws: Workspace) -> Workspace:
    """Keep using what the workspace ran with (memory server, models, endpoint) unless told otherwise."""
    meta = ws.meta
    if not settings.memory_url and (recorded_url := meta.get("memory_url")):
        settings.memory_url = recorded_url
    recorded = meta.get("models") or {}
    if not settings.model and recorded.get("planner"):
        settings.model = recorded["planner"]
        if not settings.worker_model and recorded.get("worker") != recorded["planner"]:
            settings.worker_model = recorded.get("worker") or ""
        if not settings.api_base:
            settings.api_base = meta.get("api_base") or ""
    return ws


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def workspace_and_args(name: str | None, args: list[str], wanted: int, command: str, usage: str) -> tuple[str, list[str]]:
    """`--name NAME` (the convention for commands on what a workspace holds) or the old leading NAME, with a note.

    `wanted` is how many arguments the command takes besides the workspace (0 for any number).
    """
    if name:
        if wanted and len(args) != wanted:
            fail(f"Usage: agent-scientist {command} {usage} --name NAME")
        return name, args
    if (wanted and len(args) == wanted + 1) or (not wanted and len(args) >= 2):
        warn(f"`{command} NAME ...` is the old form; write: agent-scientist {command} {usage} --name {args[0]}")
        return args[0], args[1:]
    fail(f"Say which workspace: agent-scientist {command} {usage} --name NAME (see agent-scientist list).")


def cli_phrasing(text: str, name: str | None = None) -> str:
    """The papers tools speak to the model (`read_paper('x', page=3)`); a person gets the CLI command
    and the text without the frames that mark it untrusted for the model."""
    import re
    import shlex

    from agent_scientist.untrusted import unmark

    text = unmark(text)

    where = f" --name {name}" if name else ""

    def command(match: re.Match) -> str:
        pid, page, query = match.group(1), match.group(2), match.group(3)
        parts = [f"agent-scientist papers read {pid}"]
        if page:
            parts.append(f"--page {page}")
        if query is not None:
            parts.append(f"--query {shlex.quote(query) if query != '...' else 'WORDS'}")
        return " ".join(parts) + where

    text = re.sub(r"read_paper\('([^']+)'(?:, page=(\w+))?(?:, query='([^']*)')?\)", command, text)
    text = text.replace("read_paper(id)", f"agent-scientist papers read ID{where}")
    text = re.sub(r"search_papers\(same query, offset=(\d+)\)", r"the same search with --offset \1", text)
    text = text.replace("papers add NAME FILE...", "papers add FILE... --name NAME")
    return text.replace("search_papers", "agent-scientist papers search")


def name_or_old_form(name: str | None, old_name: str | None, command: str) -> str:
    """The workspace of a `COMMAND --name NAME` command, also given in the old form `COMMAND NAME` (with a note)."""
    if not name and not old_name:
        fail(f"Say which workspace: agent-scientist {command} --name NAME (see agent-scientist list).")
    if not name:
        warn(f"`{command} NAME` is the old form; write: agent-scientist {command} --name {old_name}")
    return name or old_name or ""
