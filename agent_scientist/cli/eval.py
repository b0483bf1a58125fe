"""`agent-scientist eval QUESTIONS.jsonl` and `eval-compare A B`: research quality on question sets."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import typer

from agent_scientist.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    cli_settings,
    console,
    err_console,
    fail,
    print_json,
    warn_unpriced,
)
from agent_scientist.config import ConfigError
from agent_scientist.records import EvalSummary

MODEL_HELP = "Planner model, a litellm name (e.g. openai/gpt-4o-mini). Env: AGENT_SCIENTIST_MODEL."


def eval_cmd(
    questions: Path = typer.Argument(..., help="Question set, one JSON object a line (LitQA2-style or open)."),
    name: str = typer.Option(None, "--name", help="Eval name (default: from the file name); results in <home>/evals/NAME/."),
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    worker_model: str = typer.Option(None, "--worker-model", help="Cheaper model for memory, summaries and answer mapping."),
    api_base: str = typer.Option(None, "--api-base", help="Base URL of an OpenAI-compatible server."),
    concurrency: int = typer.Option(4, "--concurrency", help="Questions run at once, each in its own process."),
    limit: int = typer.Option(None, "--limit", help="Only the first K questions (after --ids)."),
    ids: str = typer.Option(None, "--ids", help="Only these question ids, comma-separated."),
    max_steps: int = typer.Option(None, "--max-steps", help="Steps per question (default 30)."),
    budget_usd: float = typer.Option(None, "--budget-usd", help="Stop a question once it has cost this much."),
    total_budget_usd: float = typer.Option(0.0, "--total-budget-usd", help="Stop the eval (resumably) at this total cost."),
    papers: Path = typer.Option(None, "--papers", help="A folder of PDFs every question gets (a closed-corpus eval)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the option order (with each question's id)."),
    judge_model: str = typer.Option(None, "--judge-model", help="Grade open answers against `answer` with this model."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run failed questions again (they resume)."),
    compare_with: str = typer.Option(None, "--compare", help="Then show this eval (a name or summary.json) beside it."),
    json_out: bool = typer.Option(False, "--json", help="Print summary.json instead of a table."),
    quiet: bool = typer.Option(False, "--quiet", help="Plain line output."),
) -> None:
    """Run a question set through the research agent, one workspace per question; resumable and parallel."""
    from agent_scientist.evals.formats import QuestionError, file_sha256, load_questions
    from agent_scientist.evals.live import EvalView
    from agent_scientist.evals.runner import EvalConfig, EvalError, EvalRunner
    from agent_scientist.workspace import WorkspaceError, slugify, validate_name

    settings = cli_settings(model=model, worker_model=worker_model, api_base=api_base, max_steps=max_steps,
                 budget_usd=budget_usd)
    try:
        settings.require_model()
    except ConfigError as exc:
        fail(str(exc))
    warn_unpriced(settings, "--budget-usd" if settings.budget_usd else "--total-budget-usd",
                  settings.budget_usd or total_budget_usd)
    if concurrency < 1:
        fail("--concurrency must be at least 1.")
    if total_budget_usd < 0 or (limit is not None and limit < 1):
        fail("--total-budget-usd cannot be negative and --limit must be at least 1.")
    try:
        selected = load_questions(questions)
    except QuestionError as exc:
        fail(str(exc))
    if ids:
        wanted = [i.strip() for i in ids.split(",") if i.strip()]
        known = {q.id for q in selected}
        missing = [i for i in wanted if i not in known]
        if missing:
            fail(f"--ids: no question with id {', '.join(missing[:5])} in {questions}.")
        selected = [q for q in selected if q.id in set(wanted)]
    if limit:
        selected = selected[:limit]
    name = name or slugify(questions.stem)
    try:
        validate_name(name)
    except WorkspaceError as exc:
        fail(str(exc).replace("workspace", "eval"))
    if papers is not None and not papers.is_dir():
        fail(f"--papers {papers}: not a folder.")
    cfg = EvalConfig(name, questions.resolve(), file_sha256(questions), seed, concurrency,
                     papers.resolve() if papers else None, judge_model or "", total_budget_usd, retry_failed)
    view = EvalView(err_console if json_out else console, plain=quiet or json_out or settings.quiet)
    runner = EvalRunner(settings, cfg, selected, on_change=view)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        data = runner.run()
    except EvalError as exc:
        fail(str(exc))
    finally:
        view.close()
        signal.signal(signal.SIGTERM, previous)
    if json_out:
        print_json(data)
    else:
        _print_summary(data, runner.dir)
    if compare_with:
        _print_compare(compare_with, cfg.name, settings.home, json_out=False)
    raise typer.Exit(EXIT_INTERRUPTED if data.get("stop_reason") == "interrupted" else EXIT_OK)


def _print_summary(data: EvalSummary, folder: Path) -> None:
    from rich.table import Table

    from agent_scientist.evals.summary import rows

    table = Table(show_edge=False, pad_edge=False, title=f"Eval {data.get('name')}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for label, shown, _ in rows(data):
        table.add_row(label, shown)
    console.print(table)
    if data.get("stop_reason"):
        console.print(f"Stopped ({data['stop_reason']}): {data['questions_scored']} of "
                      f"{data['questions_selected']} questions scored. Run the same command to finish.")
    console.print(f"Results: {folder / 'results.jsonl'}, {folder / 'summary.md'}", highlight=False)


def eval_compare(
    a: str = typer.Argument(..., help="An eval name, or a summary.json (or its folder)."),
    b: str = typer.Argument(..., help="The eval to compare with A."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show two evals side by side: the figures, their differences and the settings that differ."""
    _print_compare(a, b, cli_settings().home, json_out)


def _print_compare(a: str, b: str, home: Path, json_out: bool) -> None:
    from rich.table import Table

    from agent_scientist.evals.summary import compare, load

    try:
        first, second = load(a, home), load(b, home)
    except ValueError as exc:
        fail(str(exc))
    lines = compare(first, second)
    if json_out:
        print_json([{"measure": m, "a": va, "b": vb, "difference": d} for m, va, vb, d in lines])
        return
    table = Table(show_edge=False, pad_edge=False)
    for col in ("measure", f"A: {first.get('name')}", f"B: {second.get('name')}", "B - A"):
        table.add_column(col)
    for row in lines:
        table.add_row(*row)
    console.print(table)


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
    app.command("eval-compare")(eval_compare)


__all__ = ["register", "EXIT_OK"]
