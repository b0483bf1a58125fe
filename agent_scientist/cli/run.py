"""Commands that create, run and inspect workspaces: research, resume, init, list, show, doctor."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import typer

from agent_scientist.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    console,
    fail,
    open_workspace,
    print_json,
    settings,
    warn,
)
from agent_scientist.config import ConfigError, Settings
from agent_scientist.workspace import Workspace, WorkspaceError, list_names, unique_name

MODEL_HELP = "Planner model, a litellm name (e.g. openai/gpt-4o-mini). Env: AGENT_SCIENTIST_MODEL."
API_BASE_HELP = "Base URL of an OpenAI-compatible server (Ollama, vLLM, llama.cpp). Env: AGENT_SCIENTIST_API_BASE."


def research(
    question: str = typer.Argument(..., help="The research question."),
    name: str = typer.Option(None, "--name", help="Workspace name (default: a slug of the question)."),
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    worker_model: str = typer.Option(None, "--worker-model", help="Cheaper model for memory and summaries."),
    api_base: str = typer.Option(None, "--api-base", help=API_BASE_HELP),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop cleanly after this many steps (default 30)."),
    budget_usd: float = typer.Option(None, "--budget-usd", help="Stop cleanly once the run has cost this much."),
    papers: Path = typer.Option(None, "--papers", help="A folder of your own PDFs to add to the workspace first."),
    memory_url: str = typer.Option(None, "--memory-url", help="Use a Chroma server instead of the embedded store."),
    quiet: bool = typer.Option(False, "--quiet", help="Plain line output."),
) -> None:
    """Create a workspace for QUESTION and run the planner until it answers, hits a limit or is stopped."""
    s = settings(model=model, worker_model=worker_model, api_base=api_base, max_steps=max_steps,
                 budget_usd=budget_usd, memory_url=memory_url)
    _require_model(s)
    if not question.strip():
        fail("The question is empty.")
    if name and (s.home / name / "workspace.json").exists():
        ws = open_workspace(s, name)
        if ws.status != "created":
            fail(f"Workspace {name!r} has already run (status {ws.status}). "
                 f"Continue it with: agent-scientist resume {name}")
        ws.update(question=question)
    else:
        try:
            ws = Workspace.create(s.home, name or unique_name(s.home, question), question)
        except WorkspaceError as exc:
            fail(str(exc))
    if papers is not None:
        _ingest(ws, s, papers)
    raise typer.Exit(_run(ws, s, instruction=None, quiet=quiet))


def resume(
    name: str = typer.Argument(..., help="Workspace to continue."),
    instruction: str = typer.Option(None, "--instruction", help="A follow-up request for a finished workspace."),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop cleanly after this many more steps."),
    budget_usd: float = typer.Option(None, "--budget-usd", help="Stop once the workspace has cost this much."),
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    worker_model: str = typer.Option(None, "--worker-model", help="Cheaper model for memory and summaries."),
    api_base: str = typer.Option(None, "--api-base", help=API_BASE_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="Plain line output."),
) -> None:
    """Continue an interrupted, failed or finished workspace in this process."""
    s = settings(model=model, worker_model=worker_model, api_base=api_base, max_steps=max_steps,
                 budget_usd=budget_usd)
    ws = open_workspace(s, name)  # adopts the models and endpoint the workspace ran with
    _require_model(s)
    if ws.status == "created":
        fail(f"Workspace {name!r} has not run yet. Start it with: agent-scientist research \"QUESTION\" --name {name}")
    if ws.status == "completed" and not instruction:
        warn("This workspace is completed; resuming without --instruction asks the planner to keep working.")
    raise typer.Exit(_run(ws, s, instruction=instruction, quiet=quiet))


def init(
    name: str = typer.Argument(..., help="Workspace name."),
    question: str = typer.Option("", "--question", help="The research question, if known."),
) -> None:
    """Create an empty workspace to fill first (your PDFs, notes); then `research --name NAME`."""
    s = settings()
    try:
        ws = Workspace.create(s.home, name, question)
    except WorkspaceError as exc:
        fail(str(exc))
    console.print(f"Created workspace {ws.name} at {ws.root}")


def list_(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List workspaces with their status, steps, tokens and cost."""
    s = settings()
    rows = []
    for name in list_names(s.home):
        try:
            ws = Workspace.open(s.home, name)
            rows.append({**ws.meta, "status": ws.live_status})
        except WorkspaceError as exc:
            rows.append({"name": name, "status": "unreadable", "question": str(exc)})
    if json_out:
        print_json(rows)
        return
    if not rows:
        console.print(f"No workspaces in {s.home}. Start one with: agent-scientist research \"QUESTION\"")
        return
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in ("name", "status", "steps", "tokens", "cost", "updated", "question"):
        table.add_column(col, overflow="fold" if col == "question" else "ellipsis")
    for m in rows:
        table.add_row(
            m.get("name", ""), m.get("status", ""), str(m.get("steps", "")),
            f"{m.get('tokens_in', 0)}/{m.get('tokens_out', 0)}", f"${m.get('cost_usd', 0.0):.4f}",
            str(m.get("updated_at", ""))[:19], m.get("question", ""),
        )
    console.print(table)


def show(
    name: str = typer.Argument(..., help="Workspace name."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a workspace: status, question, counters and the step timeline."""
    from agent_scientist.agent.progress import observation_text, short

    s = settings()
    ws = open_workspace(s, name)
    meta = {**ws.meta, "status": ws.live_status}
    steps = ws.steps()
    if json_out:
        print_json({"workspace": meta, "steps": steps})
        return
    console.print(f"[bold]{meta['name']}[/]  {meta['status']}" + (f" ({meta['stop_reason']})" if meta.get("stop_reason") else ""))
    console.print(f"Question: {meta.get('question', '')}")
    console.print(
        f"Steps {meta.get('steps', 0)} · tokens {meta.get('tokens_in', 0)}/{meta.get('tokens_out', 0)} · "
        f"cost ${meta.get('cost_usd', 0.0):.4f} · models {meta.get('models', {})}"
    )
    console.print(f"Created {meta.get('created_at')} · updated {meta.get('updated_at')}")
    for r in steps:
        kind = r.get("type")
        if kind == "run_start":
            console.print(f"[cyan]── run started ({'resume' if r.get('resumed') else 'new'}):[/] {short(r.get('task'), 100)}")
        elif kind == "run_end":
            console.print(f"[cyan]── run ended: {r.get('status')} ({r.get('reason')})[/]")
        elif kind == "summary":
            console.print(f"[magenta]   summary of steps {r.get('covers')}:[/] {short(r.get('text'), 100)}")
        elif kind == "planning":
            console.print(f"   plan: {short(r.get('plan'), 110)}")
        elif kind == "action":
            code = short((r.get("code") or "").strip().splitlines()[0] if r.get("code") else "(no code)", 70)
            if r.get("error"):
                out = f"[red]error: {short(r['error'], 90)}[/]"
            elif r.get("final_answer") is not None:
                out = f"[green]final answer: {short(r['final_answer'], 90)}[/]"
            else:
                out = short(observation_text(r.get("observation")), 90)
            console.print(f"  {r.get('step'):>3} {r.get('duration_s', 0):6.1f}s  {code}\n        → {out}", highlight=False)


def doctor() -> None:
    """Check model settings, credentials, the workspace home, key packages and the sandbox."""
    from agent_scientist.doctor import run_checks

    s = settings()
    checks = run_checks(s)
    bad = 0
    for name, ok, detail in checks:
        mark = "[green]ok[/]  " if ok else "[red]FIX[/] "
        bad += 0 if ok else 1
        console.print(f"{mark} {name}: {detail}", highlight=False)
    console.print("All checks passed." if not bad else f"{bad} check(s) need attention.")
    raise typer.Exit(EXIT_OK if not bad else EXIT_FAILED)


def _require_model(s: Settings) -> None:
    try:
        s.require_model()
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)


def _ingest(ws: Workspace, s: Settings, folder: Path) -> None:
    if not folder.is_dir():
        fail(f"--papers {folder}: not a folder.")
    from agent_scientist.cli.papers import ingest_and_report

    ingest_and_report(ws, s, [folder])


def _run(ws: Workspace, s: Settings, instruction: str | None, quiet: bool) -> int:
    """Run the planner; map the outcome to an exit code; write the report when done."""
    from agent_scientist.agent import loop
    from agent_scientist.workspace import WorkspaceLocked

    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        outcome = loop.run(ws, s, instruction=instruction, quiet=quiet or s.quiet)
    except KeyboardInterrupt:  # during set-up, before the loop could record it
        if ws.meta.get("status") == "running":
            ws.update(status="interrupted", stop_reason="interrupted")
        console.print(f"Interrupted. Continue with: agent-scientist resume {ws.name}")
        return EXIT_INTERRUPTED
    except WorkspaceLocked as exc:
        fail(str(exc))
    except ConfigError as exc:
        fail(str(exc))
    finally:
        signal.signal(signal.SIGTERM, previous)
    if outcome.status == "completed":
        _write_report(ws, s)
        return EXIT_OK
    if outcome.status == "interrupted":
        if outcome.reason in ("max_steps", "budget"):
            console.print(f"Stopped at the {outcome.reason.replace('_', ' ')} limit. "
                          f"Continue with: agent-scientist resume {ws.name}{_partial_hint(ws)}")
            return EXIT_OK
        console.print(f"Interrupted. Continue with: agent-scientist resume {ws.name}{_partial_hint(ws)}")
        return EXIT_INTERRUPTED
    warn(f"The run failed: {outcome.reason}\nThe workspace is saved; fix the cause and run: "
         f"agent-scientist resume {ws.name}{_partial_hint(ws)}")
    return EXIT_FAILED


def _partial_hint(ws: Workspace) -> str:
    return f"\nA partial report so far: agent-scientist export {ws.name}"


def _write_report(ws: Workspace, s: Settings) -> None:
    from agent_scientist.report import write_report

    try:
        result = write_report(ws, s)
    except Exception as exc:  # the run is done and saved; a report failure must not hide that
        warn(f"Could not write the report: {exc}. Try: agent-scientist export {ws.name}")
        return
    console.print(f"Report: {result.path}")
    if result.unverified:
        warn(f"{len(result.unverified)} citation(s) could not be verified; see the report's appendix.")


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    app.command()(research)
    app.command()(resume)
    app.command()(init)
    app.command("list")(list_)
    app.command()(show)
    app.command()(doctor)


__all__ = ["register"]
