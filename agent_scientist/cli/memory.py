"""`agent-scientist memory ...`: search, list, add and import notes of a workspace's memory."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from agent_scientist.cli.common import (
    cli_settings,
    console,
    fail,
    name_or_old_form,
    open_or_create_workspace,
    open_workspace,
    print_json,
    warn,
    workspace_and_args,
)
from agent_scientist.records import Note

memory_app = typer.Typer(help="Search, list, add and import notes in a workspace's memory.", no_args_is_help=True)
URL_HELP = "Use a Chroma server (http://host:port) instead of the embedded store. Env: AGENT_SCIENTIST_MEMORY_URL."
IMPORT_BATCH = 256


def _open(ws: Any, settings: Any, for_reading: bool = False) -> Any:
    from agent_scientist.memory import MemoryUnavailable, open_memory

    try:
        return open_memory(ws, settings, for_reading)
    except MemoryUnavailable as exc:
        fail(str(exc))


@memory_app.command("search")
def search(
    args: list[str] = typer.Argument(..., metavar="QUERY", help="What to look for, in words."),
    name: str = typer.Option(None, "--name", help="Workspace name."),
    k: int = typer.Option(5, "--results", "-k", help="Number of results."),
    as_json: bool = typer.Option(False, "--json", metavar="", help="Print JSON."),
    memory_url: str = typer.Option(None, "--memory-url", help=URL_HELP),
) -> None:
    """Notes and paper passages of workspace --name ranked by relevance to QUERY.

    Example: agent-scientist memory search "dropout and calibration" --name mylib -k 10
    """
    from agent_scientist.agent.progress import short
    from agent_scientist.memory import MemoryUnavailable
    from agent_scientist.memory.embedding import preload

    name, (query,) = workspace_and_args(name, args, 1, "memory search", "QUERY")
    settings = cli_settings(memory_url=memory_url)
    ws = open_workspace(settings, name)
    if not query.strip():
        fail("The query is empty.")
    preload(settings)  # loads while the store opens
    try:
        results = _open(ws, settings, for_reading=True).recall(query, max(1, k))
    except MemoryUnavailable as exc:
        fail(str(exc))
    if as_json:
        print_json(results)
        return
    if not results:
        console.print("No notes or passages yet.")
    for r in results:
        page = f" p.{r['page']}" if r.get("page") else ""
        console.print(f"[bold]{r['score']:.3f}[/] {r['id']} ({r['kind']}, {r['source'] or 'no source'}{page})",
                      highlight=False)
        console.print(f"  {short(r['text'], 300)}", highlight=False, markup=False)


@memory_app.command("list")
def list_(
    old_name: str = typer.Argument(None, metavar="[NAME]", help="The old form of --name.", show_default=False),
    name: str = typer.Option(None, "--name", help="Workspace name."),
    kind: str = typer.Option(None, "--kind", help="Only notes of this kind."),
    all_: bool = typer.Option(False, "--all", metavar="", help="Include superseded notes."),
    as_json: bool = typer.Option(False, "--json", metavar="", help="Print JSON."),
    memory_url: str = typer.Option(None, "--memory-url", help=URL_HELP),
) -> None:
    """The notes of workspace --name, oldest first."""
    from agent_scientist.memory import KINDS

    name = name_or_old_form(name, old_name, "memory list")

    settings = cli_settings(memory_url=memory_url)
    ws = open_workspace(settings, name)
    if kind and kind not in KINDS:
        fail(f"Unknown kind {kind!r}: use one of {', '.join(KINDS)}.")
    notes = _open(ws, settings).list_notes(kinds=[kind] if kind else None, status=None if all_ else "active")
    if as_json:
        print_json(notes)
        return
    if not notes:
        console.print("No notes.")
    from agent_scientist.agent.progress import short

    for n in notes:
        page = f" p.{n['page']}" if n["page"] else ""
        status = "" if n["status"] == "active" else f" [{n['status']}]"
        console.print(f"{n['id']} ({n['kind']}, {n['source'] or 'no source'}{page}){status}", highlight=False,
                      markup=False)
        console.print(f"  {short(n['text'], 300)}", highlight=False, markup=False)
    console.print(f"{len(notes)} note(s).", highlight=False)


@memory_app.command("add")
def add(
    args: list[str] = typer.Argument(..., metavar="TEXT", help="The note."),
    name: str = typer.Option(None, "--name", help="Workspace name (created if missing)."),
    kind: str = typer.Option("finding", "--kind", help="finding, hypothesis, method, result, question, todo, lesson."),
    source: str = typer.Option("", "--source", help="e.g. arXiv:2401.01234v2, local:ab12cd34, run:3."),
    page: int = typer.Option(0, "--page", help="Page of the source."),
    tags: str = typer.Option("", "--tags", help="Comma-separated tags."),
    memory_url: str = typer.Option(None, "--memory-url", help=URL_HELP),
) -> None:
    """Save one note in workspace --name (a duplicate is merged into the stored note, keeping both sources).

    Example: agent-scientist memory add "Dropout 0.1 lowers ECE by 2 points" --source local:ab12cd34 --page 3 --name mylib
    """
    from agent_scientist.memory import MemoryUnavailable
    from agent_scientist.memory.consolidate import describe, prepare_note, save_note

    name, (text,) = workspace_and_args(name, args, 1, "memory add", "TEXT")
    settings = cli_settings(memory_url=memory_url)
    try:
        note, warnings = prepare_note(text, kind, source, page, tags)
    except ValueError as exc:
        fail(str(exc))
    ws = open_or_create_workspace(settings, name)
    for message in warnings:
        warn(message)
    try:
        saved = save_note(_open(ws, settings), note)
    except MemoryUnavailable as exc:
        fail(str(exc))
    console.print(describe(saved), highlight=False, markup=False)


def import_id(note: Note) -> str:
    """A stable id for an imported note, so importing the same file again (or after a crash) adds no copies."""
    key = json.dumps([note["kind"], note["source"], note["text"]], ensure_ascii=False)
    return "n-" + hashlib.sha1(key.encode()).hexdigest()[:10]


@memory_app.command("import")
def import_(
    args: list[str] = typer.Argument(..., metavar="FILE",
                                     help="JSON lines: one note a line, {\"text\", \"kind\", \"source\", ...}."),
    name: str = typer.Option(None, "--name", help="Workspace name (created if missing)."),
    memory_url: str = typer.Option(None, "--memory-url", help=URL_HELP),
) -> None:
    """Import notes from FILE.jsonl into workspace --name, in batches (re-importing adds no copies).

    Example: agent-scientist memory import notes.jsonl --name mylib
    """
    name, (file_arg,) = workspace_and_args(name, args, 1, "memory import", "FILE")
    file = Path(file_arg)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from agent_scientist.memory import MemoryUnavailable
    from agent_scientist.memory.consolidate import prepare_note
    from agent_scientist.memory.embedding import preload

    settings = cli_settings(memory_url=memory_url)
    if not file.is_file():
        fail(f"{file} is not a file.")
    with open(file, encoding="utf-8", errors="replace") as fh:
        total = sum(1 for line in fh if line.strip())
    ws = open_or_create_workspace(settings, name)
    preload(settings)  # loads while chromadb opens
    store = _open(ws, settings)
    bad: list[str] = []
    notices: list[str] = []  # notes stored but cut to the maximum length
    done = 0
    present = 0  # notes of the file already in the memory (the same text, kind and source)
    seen: set[str] = set()  # ids of this import (a line repeated later in the file is already there)

    def flush(batch: list[Note]) -> None:
        """Store the notes of `batch` the memory lacks (chromadb, then the lexical index, as add_notes writes)."""
        nonlocal done, present
        asked = list(dict.fromkeys(n["id"] for n in batch if n["id"] not in seen))  # chromadb refuses twins
        known = seen | {n["id"] for n in store.get_notes(asked)}
        fresh = []
        for n in batch:
            if n["id"] not in known:
                fresh.append(n)
                known.add(n["id"])
        seen.update(n["id"] for n in batch)
        if fresh:
            store.add_notes(fresh)
        present += len(batch) - len(fresh)
        done += len(fresh)
        if not console.is_terminal:  # no live bar in a pipe or a log: one line per batch
            console.print(f"imported {done + present}/{total}", highlight=False)

    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar, \
                open(file, encoding="utf-8", errors="replace") as fh:
            task = bar.add_task("import", total=total)
            batch: list[Note] = []
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    note, cut = _parse_line(line, prepare_note)
                except ValueError as exc:
                    bad.append(f"line {number}: {exc}")
                    bar.advance(task)
                    continue
                notices.extend(f"line {number}: {message}" for message in cut)
                batch.append(note)
                if len(batch) >= IMPORT_BATCH:
                    flush(batch)
                    bar.advance(task, len(batch))
                    batch = []
            if batch:
                flush(batch)
                bar.advance(task, len(batch))
    except MemoryUnavailable as exc:
        fail(f"{exc} ({done} notes were imported before this; importing the file again adds the rest.)")
    for label, messages in (("bad lines", bad), ("cut notes", notices)):
        for message in messages[:10]:
            warn(message)
        if len(messages) > 10:
            warn(f"... and {len(messages) - 10} more {label}.")
    already = f" ({present} already there)" if present else ""
    console.print(f"Imported {done} note(s) into {ws.name}{already}"
                  + (f"; skipped {len(bad)} bad line(s)." if bad else "."), highlight=False)


def _parse_line(line: str, prepare_note: Callable[..., tuple[Note, list[str]]]) -> tuple[Note, list[str]]:
    """One import line as a note, and its warnings (a cut note); ValueError for a line to skip (the file's JSON
    becomes a Note here, through prepare_note, and nowhere else)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    note, warnings = prepare_note(data.get("text") or data.get("content") or "", data.get("kind") or "finding",
                           data.get("source") or "", data.get("page") or 0, data.get("tags") or "",
                           step=data.get("step") or 0)
    if data.get("status") in ("active", "superseded"):
        note["status"] = data["status"]
    for key in ("created_at", "updated_at"):
        if data.get(key):
            note[key] = str(data[key])
    note["id"] = str(data.get("id") or import_id(note))
    return note, warnings


def register(app: typer.Typer) -> None:
    app.add_typer(memory_app, name="memory")
