"""Commands that look at and remove workspaces: list, show, delete."""

from __future__ import annotations

import shutil
import textwrap

import typer

from agent_scientist.cli.common import cli_settings, console, fail, open_workspace, print_json
from agent_scientist.records import WorkspaceMeta, observation_text, short, stop_label
from agent_scientist.workspace import Workspace, WorkspaceError, evidence_usage, list_names

STATUS_WIDTH = 30  # the status column; longer words wrap inside it
HEADERS = ("name", "status", "steps", "tokens", "cost", "updated")

def list_(json_out: bool = typer.Option(False, "--json", metavar="", help="Print JSON.")) -> None:
    """List workspaces with their status (and why a run stopped), steps, tokens, cost and question."""
    settings = cli_settings()
    rows = []
    for name in list_names(settings.home):
        try:
            ws = Workspace.open(settings.home, name)
            rows.append({**ws.meta, "status": ws.live_status, "stopped": ws.stopped})
        except WorkspaceError as exc:
            rows.append({"name": name, "status": "unreadable", "stopped": "unreadable", "question": str(exc)})
    if json_out:
        print_json(rows)
        return
    if not rows:
        console.print(f"No workspaces in {settings.home}. Start one with: agent-scientist research \"QUESTION\"",
                      highlight=False)
        return
    cells: list[tuple[str, ...]] = [(str(m.get("name", "")), str(m.get("stopped", "")), str(m.get("steps", "")),
              f"{m.get('tokens_in', 0)}/{m.get('tokens_out', 0)}", f"${m.get('cost_usd', 0.0):.4f}",
              str(m.get("updated_at", ""))[:16].replace("T", " "), " ".join(str(m.get("question", "")).split()))
             for m in rows]
    console.print(f"Workspaces in {settings.home}", style="bold", highlight=False)
    width = console.width
    fixed = [max(len(row[i]) for row in cells) for i in range(6)]
    fixed = [max(w, len(h)) for w, h in zip(fixed, HEADERS[:6], strict=True)]
    fixed[1] = min(fixed[1], STATUS_WIDTH)  # a failure's cause wraps within the column, never cut
    room = width - sum(fixed) - 2 * 6
    if room >= 20:  # a table, the question cut to what is left of the line
        line = "  ".join(h.ljust(w) for h, w in zip(HEADERS[:6], fixed, strict=True)) + "  question"
        console.print(line, style="bold", highlight=False, markup=False)
        for row in cells:
            status = textwrap.wrap(row[1], fixed[1], break_on_hyphens=False) or [""]
            first = (row[0], status[0], *row[2:6])
            console.print("  ".join(c.ljust(w) for c, w in zip(first, fixed, strict=True)) + "  "
                          + _cut(row[6], room), highlight=False, markup=False)
            for more in status[1:]:
                console.print(" " * (fixed[0] + 2) + more, highlight=False, markup=False)
        return
    for row in cells:  # narrow terminal: the name on its own line, never cut
        console.print(row[0], style="bold", highlight=False, markup=False)
        for part in textwrap.wrap(row[1], width - 4, break_on_hyphens=False):
            console.print(f"  {part}", highlight=False, markup=False)
        console.print(_cut(f"  {row[2]} steps · {row[3]} tok · {row[4]} · {row[5]}", width),
                      highlight=False, markup=False)
        console.print(_cut(f"  {row[6]}", width), highlight=False, markup=False)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def show(
    name: str = typer.Argument(..., metavar="NAME", help="Workspace name."),
    json_out: bool = typer.Option(False, "--json", metavar="", help="Print JSON."),
) -> None:
    """Show a workspace: status, question, counters and the step timeline."""
    from rich.markup import escape


    settings = cli_settings()
    ws = open_workspace(settings, name, check_steps=True)
    meta: WorkspaceMeta = {**ws.meta, "status": ws.live_status}
    steps = ws.steps()
    if json_out:
        print_json({"workspace": meta, "stopped": ws.stopped, "steps": steps})
        return
    console.print(f"[bold]{meta['name']}[/]  {escape(ws.stopped)}")
    console.print(f"Folder: {ws.root}", highlight=False)
    console.print(f"Question: {meta.get('question', '')}", highlight=False, markup=False)
    console.print(
        f"Planner steps {meta.get('steps', 0)} · tokens in {meta.get('tokens_in', 0)} / out "
        f"{meta.get('tokens_out', 0)} · cost ${meta.get('cost_usd', 0.0):.4f}", highlight=False
    )
    evidence = evidence_usage(steps)
    if evidence["tokens_in"] or evidence["tokens_out"]:
        console.print(f"  of which evidence (gather_evidence): tokens in {evidence['tokens_in']} / out "
                      f"{evidence['tokens_out']} · cost ${evidence['cost_usd']:.4f}", highlight=False)
    console.print(models_text(meta), highlight=False, markup=False)
    console.print(f"Created {meta.get('created_at')} · updated {meta.get('updated_at')}", highlight=False)
    for r in steps:
        kind = r.get("type")
        if kind == "run_start":
            console.print(f"[cyan]── run started ({'resume' if r.get('resumed') else 'new'}):[/] {short(r.get('task'), 100)}")
        elif kind == "run_end":
            console.print(f"[cyan]── run ended: {escape(stop_label(r.get('status'), r.get('reason')))}[/]")
            if r.get("log"):
                console.print(f"   traceback: {ws.root / str(r['log'])}", highlight=False, markup=False)
        elif kind == "summary":
            console.print(f"[magenta]   summary of steps {r.get('covers')}:[/] {short(r.get('text'), 100)}")
        elif kind == "planning":
            console.print(f"   plan: {short(r.get('plan'), 110)}")
        elif kind == "action":
            code = short((r.get("code") or "").strip().splitlines()[0] if r.get("code") else "(no code)", 70)
            if r.get("error"):
                out = f"[red]error: {short(r['error'], 90)}[/]"
                if r.get("model_output") and not r.get("code"):
                    out += f"\n        model wrote: {short(r['model_output'], 90)}"
            elif r.get("final_answer") is not None:
                out = f"[green]final answer: {short(r['final_answer'], 90)}[/]"
            else:
                out = short(observation_text(r.get("observation")), 90)
            figures = f"{r.get('duration_s', 0):6.1f}s  in {r.get('tokens_in', 0)} / out {r.get('tokens_out', 0)} tok"
            console.print(f"  {r.get('step'):>3} {figures}  {code}\n        → {out}", highlight=False)


def models_text(meta: WorkspaceMeta) -> str:
    """The models and endpoint a workspace ran with, as a line of text."""
    models = meta.get("models") or {}
    if not models:
        return "Models: none yet (the workspace has not run)"
    planner, worker = models.get("planner") or "?", models.get("worker") or models.get("planner") or "?"
    line = f"Models: planner {planner}" + (f", worker {worker}" if worker != planner else " (also the worker)")
    line += f" · endpoint {meta.get('api_base') or 'the provider default'}"
    if meta.get("memory_url"):
        line += f" · memory server {meta['memory_url']}"
    return line


def delete(
    name: str = typer.Argument(..., metavar="NAME", help="Workspace to delete, with everything in it."),
    yes: bool = typer.Option(False, "--yes", "-y", metavar="", help="Do not ask (for scripts)."),
) -> None:
    """Delete workspace NAME and all its files (steps, papers, memory, report); asks first.

    Example: agent-scientist delete does-x-improve-y --yes
    """
    settings = cli_settings()
    ws = open_workspace(settings, name)
    if ws.is_locked():
        fail(f"Workspace {name!r} is in use by a running process; stop it (Ctrl-C) first.")
    summary = f"{ws.root} ({ws.meta.get('steps', 0)} planner steps, {len(ws.papers())} papers, status {ws.status})"
    if not yes and not typer.confirm(f"Delete {summary}?", default=False):
        console.print("Nothing deleted.")
        raise typer.Exit(1)
    try:
        with ws.lock():  # no run may start while the folder goes away
            for child in sorted(ws.root.iterdir()):
                if child.name == ".lock":
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        shutil.rmtree(ws.root)
    except OSError as exc:
        fail(f"Could not delete {ws.root} completely ({exc}); what is left is there.")
    console.print(f"Deleted {summary}.", highlight=False)


def repair(name: str = typer.Argument(..., help="Workspace whose steps.jsonl or runs.jsonl has unreadable lines.")) -> None:
    """Move unreadable lines of steps.jsonl and runs.jsonl to *.corrupt.jsonl (kept); renumber nothing, lower no total.

    Example: agent-scientist repair my-study
    """
    settings = cli_settings()
    ws = open_workspace(settings, name)
    try:
        done = ws.repair()
    except WorkspaceError as exc:
        fail(str(exc))
    c = done["counters"]
    if done["moved"]:
        console.print(f"Moved {len(done['moved'])} unreadable line(s) ({', '.join(map(str, done['moved']))}) "
                      f"to {done['corrupt_file']}; {done['kept']} records kept.", highlight=False)
    else:
        console.print(f"steps.jsonl is readable ({done['kept']} records); nothing moved.")
    if done["runs_moved"]:
        console.print(f"runs.jsonl: moved {len(done['runs_moved'])} unreadable line(s) "
                      f"({', '.join(map(str, done['runs_moved']))}) to {done['runs_corrupt_file']}; "
                      f"{done['runs_kept']} runs kept.", highlight=False)
    console.print(f"Counters: {c['steps']} steps, {c['tokens_in']}/{c['tokens_out']} tokens, "
                  f"${c['cost_usd']:.4f} (never lowered).", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("list")(list_)
    app.command()(show)
    app.command()(delete)
    app.command()(repair)
