"""Commands that create, run and inspect workspaces: research, resume, init, list, show, doctor."""

from __future__ import annotations

import importlib
import importlib.util
import signal
import sys
from pathlib import Path
from typing import Any

import typer

from agent_scientist.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    cli_settings,
    console,
    fail,
    open_workspace,
    warn,
    warn_unpriced,
)
from agent_scientist.config import ConfigError, Settings
from agent_scientist.records import stop_label
from agent_scientist.workspace import Workspace, WorkspaceError, unique_name

MODEL_HELP = "Planner model, a litellm name (e.g. openai/gpt-4o-mini). Env: AGENT_SCIENTIST_MODEL."
EXECUTOR_HELP = "Where experiments run: local (default) or ray (the cluster at ray_address). Env: AGENT_SCIENTIST_EXECUTOR."
API_BASE_HELP = "Base URL of an OpenAI-compatible server (Ollama, vLLM, llama.cpp). Env: AGENT_SCIENTIST_API_BASE."
OFFLINE_OK_HELP = "Skip the check that the provider's endpoint accepts connections (behind a proxy)."
BUDGET_HELP = ("Stop cleanly once the workspace has cost this much in all (USD, all its runs together). "
               "Env: AGENT_SCIENTIST_BUDGET_USD.")


def research(
    question: str = typer.Argument(..., metavar="QUESTION", help="The research question."),
    name: str = typer.Option(None, "--name", help="Workspace name (default: a slug of the question)."),
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    worker_model: str = typer.Option(None, "--worker-model", help="Cheaper model for memory and summaries."),
    api_base: str = typer.Option(None, "--api-base", help=API_BASE_HELP),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop cleanly after this many steps (default 30)."),
    budget_usd: float = typer.Option(None, "--budget-usd", help=BUDGET_HELP),
    papers: Path = typer.Option(None, "--papers", help="A folder of your own PDFs to add to the workspace first."),
    memory_url: str = typer.Option(None, "--memory-url", help="Use a Chroma server instead of the embedded store."),
    quiet: bool = typer.Option(False, "--quiet", help="Plain line output."),
    executor: str = typer.Option(None, "--executor", help=EXECUTOR_HELP),
    offline_ok: bool = typer.Option(False, "--offline-ok", help=OFFLINE_OK_HELP),
) -> None:
    """Create a workspace for QUESTION and run the planner until it answers, hits a limit or is stopped.

    Examples:

      agent-scientist research "Does label smoothing improve calibration?" --model openai/gpt-4o-mini

      agent-scientist research "Does X improve Y?" --model openai/qwen3 --api-base http://localhost:8080/v1
    """
    settings = cli_settings(model=model, worker_model=worker_model, api_base=api_base, max_steps=max_steps,
                 budget_usd=budget_usd, memory_url=memory_url, executor=executor)
    _require_model(settings)
    _require_executor(settings)
    if not question.strip():
        fail("The question is empty.")
    existing = None
    if name and (settings.home / name / "workspace.json").exists():
        existing = open_workspace(settings, name)
        if existing.status != "created":
            fail(f"Workspace {name!r} has already run (status {existing.status}). "
                 f"Continue it with: agent-scientist resume {name}")
        asked = existing.question.strip()
        if asked and " ".join(asked.split()) != " ".join(question.split()):
            fail(f"Workspace {name!r} was made for another question: {asked!r}. Run that one with: "
                 f"agent-scientist research {_quote(asked)} --name {name}, or give this question "
                 f"another --name.")
    _preflight(settings, offline_ok)  # before anything is created or read
    if existing is not None:
        ws = existing
        ws.update(question=question)
    else:
        try:
            ws = Workspace.create(settings.home, name or unique_name(settings.home, question), question)
        except WorkspaceError as exc:
            fail(str(exc))
    if papers is not None:
        _ingest(ws, settings, papers)
    raise typer.Exit(_run(ws, settings, instruction=None, quiet=quiet))


def resume(
    name: str = typer.Argument(..., metavar="NAME", help="Workspace to continue."),
    instruction: str = typer.Option(None, "--instruction", help="A follow-up request for a finished workspace."),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop cleanly after this many more steps."),
    budget_usd: float = typer.Option(None, "--budget-usd", help=BUDGET_HELP),
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    worker_model: str = typer.Option(None, "--worker-model", help="Cheaper model for memory and summaries."),
    api_base: str = typer.Option(None, "--api-base", help=API_BASE_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="Plain line output."),
    executor: str = typer.Option(None, "--executor", help=EXECUTOR_HELP),
    update: bool = typer.Option(False, "--update", help="First run `update` (no model call); the new papers "
                                "become the planner's task."),
    offline_ok: bool = typer.Option(False, "--offline-ok", help=OFFLINE_OK_HELP),
) -> None:
    """Continue an interrupted, failed or finished workspace in this process.

    Example: agent-scientist resume does-x-improve-y --max-steps 10
    """
    settings = cli_settings(model=model, worker_model=worker_model, api_base=api_base, max_steps=max_steps,
                 budget_usd=budget_usd, executor=executor)
    ws = open_workspace(settings, name, check_steps=True)  # adopts the models and endpoint the workspace ran with
    _require_model(settings)
    _require_executor(settings)
    if ws.status == "created":
        fail(f"Workspace {name!r} has not run yet. Start it with: agent-scientist research "
             f"{_quote(ws.question or 'QUESTION')} --name {name}")
    _preflight(settings, offline_ok)
    if update:
        from agent_scientist.cli.update import bring_up_to_date
        from agent_scientist.papers.update import new_papers_task

        task = new_papers_task(bring_up_to_date(ws, settings))
        instruction = f"{instruction}\n\n{task}" if instruction else task
    if ws.status == "completed" and not instruction:
        warn("This workspace is completed; resuming without --instruction asks the planner to keep working.")
    raise typer.Exit(_run(ws, settings, instruction=instruction, quiet=quiet))


def init(
    name: str = typer.Argument(..., metavar="NAME", help="Workspace name."),
    question: str = typer.Option("", "--question", help="The research question, if known."),
) -> None:
    """Create an empty workspace to fill first (your PDFs, notes); then `research --name NAME`.

    Example: agent-scientist init mylib --question "Does X improve Y?"
    """
    settings = cli_settings()
    if (settings.home / name / "workspace.json").exists():
        fail(f"Workspace {name!r} already exists in {settings.home}. Choose another NAME, or use it: "
             f"agent-scientist show {name}")
    try:
        ws = Workspace.create(settings.home, name, question)
    except WorkspaceError as exc:
        fail(str(exc))
    console.print(f"Created workspace {ws.name} at {ws.root}", highlight=False)
    run_it = f"agent-scientist research {_quote(question or 'QUESTION')} --name {ws.name}"
    console.print(f"Add PDFs: agent-scientist papers add FILE... --name {ws.name}\nThen run: {run_it}",
                  highlight=False)


def doctor(
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    worker_model: str = typer.Option(None, "--worker-model", help="Cheaper model for memory and summaries."),
    api_base: str = typer.Option(None, "--api-base", help=API_BASE_HELP),
) -> None:
    """Check model settings, credentials, the endpoint, the workspace home, key packages and the sandbox.

    Example: agent-scientist doctor --model openai/qwen3 --api-base http://localhost:8080/v1
    """
    from agent_scientist.capabilities import default_capabilities
    from agent_scientist.doctor import run_checks

    settings = cli_settings(model=model, worker_model=worker_model, api_base=api_base)
    checks = run_checks(settings, default_capabilities())
    bad = 0
    for name, ok, detail in checks:
        mark = "[green]ok[/]  " if ok else "[red]FIX[/] "
        bad += 0 if ok else 1
        console.print(f"{mark} {name}: {detail}", highlight=False)
    console.print("All checks passed." if not bad else f"{bad} check(s) need attention.")
    raise typer.Exit(EXIT_OK if not bad else EXIT_FAILED)


def _require_model(settings: Settings) -> None:
    try:
        settings.require_model()
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)


def _preflight(settings: Settings, offline_ok: bool = False) -> None:
    """Refuse, with the fix, a run that cannot work (unknown provider, no key, no server); warn on cost."""
    from agent_scientist.doctor import preflight

    problems = _wait_if_busy(settings, preflight(settings, offline_ok), offline_ok)
    if problems:
        fail("This run cannot start:\n" + "\n".join(f"  - {what}: {detail}" for what, _, detail in problems)
             + "\nNothing was created. Check everything with: agent-scientist doctor", EXIT_USAGE)
    warn_unpriced(settings, "--budget-usd", settings.budget_usd)


BUSY_WAIT_S = 30.0  # a server that accepts connections but is busy generating gets this long to answer


def _wait_if_busy(settings: Settings, problems: list[Any], offline_ok: bool = False) -> list[Any]:
    """A server that accepts connections but does not answer /models in time is busy (e.g. still generating an
    abandoned reply): wait for it, up to BUSY_WAIT_S, saying so, instead of refusing."""
    import time

    from agent_scientist.doctor import preflight

    busy = [p for p in problems if p[0] == "api base" and "did not answer within" in p[2]]
    if not busy or len(busy) != len(problems):
        return problems
    started = time.monotonic()
    print(f"server busy: {settings.api_base} accepts connections but has not answered yet (it may still be "
          f"finishing an earlier request); waiting up to {BUSY_WAIT_S:g} s", file=sys.stderr, flush=True)
    while time.monotonic() - started < BUSY_WAIT_S:
        problems = preflight(settings, offline_ok)
        if not problems:
            print(f"server ready after {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
            return problems
    return problems


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _ingest(ws: Workspace, settings: Settings, folder: Path) -> None:
    if not folder.is_dir():
        fail(f"--papers {folder}: not a folder.")
    from agent_scientist.cli.papers import ingest_and_report

    ingest_and_report(ws, settings, [folder])


def _require_executor(settings: Settings) -> None:
    """executor = ray without Ray installed: say how to install it before anything runs."""
    if settings.executor == "ray" and importlib.util.find_spec("ray") is None:
        from agent_scientist.experiments.executors import RAY_MISSING

        fail(RAY_MISSING)


def _run(ws: Workspace, settings: Settings, instruction: str | None, quiet: bool) -> int:
    """Run the planner; map the outcome to an exit code; write the report when done."""
    from agent_scientist.agent import loop
    from agent_scientist.capabilities import default_capabilities
    from agent_scientist.workspace import WorkspaceLocked

    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        outcome = loop.run(ws, settings, instruction=instruction, quiet=quiet or settings.quiet,
                           capabilities=default_capabilities())
    except KeyboardInterrupt:  # during set-up, before the loop could record it
        if ws.meta.get("status") == "running":
            ws.update(status="interrupted", stop_reason="interrupted")
        console.print(f"Interrupted. Continue with: agent-scientist resume {ws.name}")
        return EXIT_INTERRUPTED
    except WorkspaceLocked as exc:
        fail(str(exc))
    except WorkspaceError as exc:  # steps.jsonl damaged
        fail(str(exc))
    except ConfigError as exc:
        fail(str(exc))
    finally:
        signal.signal(signal.SIGTERM, previous)
    _write_report(ws, settings)  # at every stop: a partial report says why it is partial
    if outcome.status == "completed":
        return EXIT_OK
    if outcome.status == "interrupted":
        if outcome.reason in ("max_steps", "budget"):
            console.print(f"S{stop_label(outcome.status, outcome.reason)[1:]}. "  # Stopped: max steps|budget.
                          f"Continue with: agent-scientist resume {ws.name}{_export_hint(ws)}")
            return EXIT_OK
        console.print(f"Interrupted. Continue with: agent-scientist resume {ws.name}{_export_hint(ws)}")
        return EXIT_INTERRUPTED
    trace = f"\nThe traceback is in {outcome.log}." if outcome.log else ""
    warn(f"The run failed: {_name_endpoint(outcome.reason, settings)}{trace}\nThe workspace is saved; fix the cause "
         f"and run: agent-scientist resume {ws.name}{_export_hint(ws)}")
    return EXIT_FAILED


def _export_hint(ws: Workspace) -> str:
    return f"\nThe partial report in other formats: agent-scientist export {ws.name} --format json|bibtex"


def _name_endpoint(reason: str, settings: Settings) -> str:
    """A connection error names the URL it could not reach (litellm's says only "Connection error.")."""
    lowered = reason.lower()
    if not any(word in lowered for word in ("connection", "connect", "timed out", "timeout")):
        return reason
    where = settings.api_base or f"the {settings.model.split('/', 1)[0]} API"
    return f"{reason} (endpoint: {where}; check it with: agent-scientist doctor)"


def _write_report(ws: Workspace, settings: Settings) -> None:
    from agent_scientist.report import write_report

    try:
        result = write_report(ws, settings)
    except Exception as exc:  # the run is done and saved; a report failure must not hide that
        warn(f"Could not write the report: {exc}. Try: agent-scientist export {ws.name}")
        return
    partial = " (partial)" if result.partial else ""
    console.print(f"Report{partial}: {result.path}", highlight=False)
    if result.unverified:
        warn(f"{len(result.unverified)} citation(s) could not be verified; see the report's appendix.")


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    app.command()(research)
    app.command()(resume)
    app.command()(init)
    app.command()(doctor)


__all__ = ["register"]
