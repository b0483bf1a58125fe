"""`agent-scientist verify NAME`: check (or re-check) a workspace's answer claim by claim, without the planner."""

from __future__ import annotations

import typer

from agent_scientist.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    cli_settings,
    console,
    err_console,
    fail,
    open_workspace,
    print_json,
    warn,
)


def verify(
    name: str = typer.Argument(..., help="Workspace name (see `agent-scientist list`)."),
    json_out: bool = typer.Option(False, "--json", help="Print the claims as JSON."),
    worker_model: str = typer.Option(None, "--worker-model",
                                     help="Reviewer model (default: the worker model the workspace ran with)."),
    api_base: str = typer.Option(None, "--api-base", help="Base URL of an OpenAI-compatible server."),
) -> None:
    """Check each claim of a workspace's answer against the pages it cites; update the verdicts and the report."""
    from agent_scientist.workspace import WorkspaceLocked

    settings = cli_settings(worker_model=worker_model, api_base=api_base)
    ws = open_workspace(settings, name)  # adopts the models and endpoint the workspace ran with
    if ws.final_answer() is None:
        fail(f"Workspace {name!r} has no final answer to verify yet. Continue it with: agent-scientist resume {name}")
    if not settings.model:
        settings.model = settings.worker_model
    if not settings.effective_worker_model:
        fail("No reviewer model: pass --worker-model (a litellm name) or set AGENT_SCIENTIST_WORKER_MODEL.",
             EXIT_USAGE)
    from agent_scientist.agent.models import build_model
    from agent_scientist.records import summary_line
    from agent_scientist.report import write_report
    from agent_scientist.report.evidence import claims_json
    from agent_scientist.review.revise import check_answer

    model = build_model(settings, "worker")
    try:
        with ws.lock():
            record = check_answer(ws, settings, model, say=lambda text: err_console.print(text, highlight=False),
                                  by="verify", continue_check=False)
            assert record is not None  # an answer exists (checked above)
            ws.append_step(record)
            try:
                result = write_report(ws, settings)
                err_console.print(f"Report written to {result.path}", highlight=False)
            except Exception as exc:  # the verdicts are recorded; the report can be exported again
                warn(f"Could not write the report: {exc}. Try: agent-scientist export {ws.name}")
    except WorkspaceLocked as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        err_console.print("Interrupted; the verdicts so far are recorded. Run verify again to check the answer.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if json_out:
        print_json(claims_json(record))
        return
    console.print(f"Claims: {summary_line(record['counts'])} (reviewer {record['reviewer']})", highlight=False)
    for claim in record["claims"]:
        if claim["verdict"] not in ("supported", "partial"):
            console.print(f"  c{claim['n']} {claim['verdict']}: {claim['text'][:120]} — {claim.get('why') or ''}",
                          highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(verify)
