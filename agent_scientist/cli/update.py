"""`update NAME`: re-run the workspace's recorded searches for newer papers and check its papers for
retractions, with no model call; then rewrite the report with a "What changed since DATE" section."""

from __future__ import annotations

import typer

from agent_scientist.cli.common import cli_settings, console, fail, open_workspace
from agent_scientist.config import Settings
from agent_scientist.workspace import Workspace


def update(name: str = typer.Argument(..., metavar="NAME", help="Workspace to bring up to date.")) -> None:
    """Re-run every recorded search for papers newer than the last run, flag new retractions, update the report.

    Example: agent-scientist update does-x-improve-y
    """
    settings = cli_settings()
    ws = open_workspace(settings, name, check_steps=True)
    record = bring_up_to_date(ws, settings)
    new = sum(len(s["new"]) for s in record["searches"])
    console.print(f"Since {record['since']}: {new} new paper(s) over {len(record['searches'])} search(es), "
                  f"{len(record['flags'])} new flag(s).", highlight=False)
    for s in record["searches"]:
        state = f"failed: {s['error']}" if s["error"] else f"{len(s['new'])} new"
        console.print(f"  {s['source']} {s['query']!r}: {state}", highlight=False, markup=False)
        for w in s["new"]:
            console.print(f"    {w['id']}  {w.get('title') or ''} ({w.get('year') or ''})", highlight=False,
                          markup=False)
    for f in record["flags"]:
        console.print(f"  {f['id']} is now {f['flag']}", highlight=False, markup=False)


def bring_up_to_date(ws: Workspace, settings: Settings) -> dict:
    """The update, recorded; the report rewritten with it when the workspace has one."""
    from agent_scientist.papers.update import recorded_searches, run_update
    from agent_scientist.report import write_report

    if not recorded_searches(ws) and not ws.papers():
        fail(f"Workspace {ws.name!r} has recorded no search and holds no paper: nothing to update.")
    with ws.lock():
        record = run_update(ws, settings)
    if ws.report_path.is_file() or ws.final_answer() is not None:
        write_report(ws, settings)
    return record


def register(app: typer.Typer) -> None:
    app.command()(update)
