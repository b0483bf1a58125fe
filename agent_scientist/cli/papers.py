"""`agent-scientist papers ...`: the papers tools for a person, without a model.

`add` fills a workspace's library with local PDFs; `search` and `read` answer exactly as the planner's
tools do. Without --name, search and read cache in `<home>/.papers-cache/papers/` (a hidden folder of
the workspace home that is not a workspace), so repeated commands need no network either.
"""

from __future__ import annotations

from pathlib import Path

import typer

from agent_scientist.cli.common import (
    EXIT_FAILED,
    console,
    fail,
    open_or_create_workspace,
    open_workspace,
    print_json,
    settings,
    warn,
)
from agent_scientist.config import Settings
from agent_scientist.workspace import Workspace

CACHE_DIR = ".papers-cache"

papers_app = typer.Typer(help="Search arXiv, read papers, and add your own PDFs to a workspace.",
                         no_args_is_help=True)


def _workspace(s, name: str | None):
    """The named workspace, or the shared cache when no name is given."""

    if name:
        return open_workspace(s, name)
    return Workspace(Path(s.home) / CACHE_DIR)


def _memory(ws, s):
    """The workspace memory, so added papers can be recalled before they are read; None without it."""
    from agent_scientist.memory import open_memory

    try:
        return open_memory(ws, s)
    except Exception as exc:  # memory is optional; papers are indexed when read
        warn(f"memory unavailable ({exc}); passages will be indexed when the papers are read.")
        return None


@papers_app.command("add")
def add(
    name: str = typer.Argument(..., help="Workspace to add to (created if it does not exist, as `init` does)."),
    files: list[Path] = typer.Argument(..., help="PDF files, or folders of PDFs."),
) -> None:
    """Add your own PDFs to workspace NAME as local papers (ids local:<hash>)."""
    s = settings()
    ws = open_or_create_workspace(s, name)
    if ingest_and_report(ws, s, list(files)):
        raise typer.Exit(EXIT_FAILED)


def ingest_and_report(ws: Workspace, s: Settings, files: list[Path]) -> int:
    """Add PDFs to `ws`, say what happened to each, and return how many failed."""
    from agent_scientist.papers.tool import ingest_pdfs

    results = ingest_pdfs(ws, s, files, memory=_memory(ws, s))
    if not results:
        fail("No PDF files found in the paths given.")
    failed = 0
    for item in results:
        if item.get("error"):
            failed += 1
            warn(item["error"])
        elif item.get("skipped"):
            console.print(f"skipped {item['original_path']}: {item['skipped']}", highlight=False)
        else:
            scanned = " (scanned, no text layer)" if item.get("scanned") else ""
            console.print(f"added {item['id']}  {item['pages']} pages  {item['title'][:70]}{scanned}",
                          highlight=False, markup=False)
            if item.get("warning"):
                warn(item["warning"])
    added = sum(1 for item in results if not item.get("error") and not item.get("skipped"))
    console.print(f"{added} added, {len(results) - added - failed} already present, {failed} failed "
                  f"(workspace {ws.name}).", highlight=False)
    return failed


@papers_app.command("search")
def search_cmd(
    query: str = typer.Argument(..., help="Words or arXiv syntax (ti:, au:, abs:, cat:, AND/OR/ANDNOT)."),
    max_results: int = typer.Option(10, "--max-results", "-n", help="Number of arXiv results (1-50)."),
    sort: str = typer.Option("relevance", "--sort", help="relevance, submitted or updated."),
    start_date: str = typer.Option("", "--from", help="Earliest submission date, YYYY-MM-DD."),
    end_date: str = typer.Option("", "--to", help="Latest submission date, YYYY-MM-DD."),
    offset: int = typer.Option(0, "--offset", help="Skip this many results (next page)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    name: str = typer.Option(None, "--name", help="Workspace whose cache and papers to use."),
) -> None:
    """Search arXiv (and the workspace's papers) like the planner's search_papers tool."""
    from agent_scientist.agent.registry import ToolError
    from agent_scientist.papers.tool import search

    s = settings()
    ws = _workspace(s, name)
    try:
        results = search(ws, s, query, max_results, sort, start_date, end_date, offset)
    except ToolError as exc:
        fail(str(exc), EXIT_FAILED)
    if as_json:
        print_json(results)
        return
    from rich.table import Table

    table = Table(show_lines=False, expand=False)
    for column in ("id", "date", "title", "authors", "source"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(r["id"], r.get("published", ""), r["title"], ", ".join(r["authors"][:3]),
                      r["source"] + (" (cached)" if r.get("in_workspace") else ""))
    console.print(table)
    more = str(results[-1].get("more", ""))
    span = more.split(";")[0] + ". " if more else ""
    after = "No more results." if more.endswith("no more.") else f"Next page: --offset {offset + max_results}."
    console.print(f"{span}{after} Read one: agent-scientist papers read ID", highlight=False)


@papers_app.command("read")
def read_cmd(
    paper_id: str = typer.Argument(..., metavar="ID", help="2401.01234[v2], arXiv:..., an arxiv.org URL or local:..."),
    page: int = typer.Option(0, "--page", "-p", help="0 for the overview, N for page N."),
    query: str = typer.Option("", "--query", "-q", help="Show the passages that best match these words."),
    name: str = typer.Option(None, "--name", help="Workspace whose cache and papers to use."),
) -> None:
    """Read a paper like the planner's read_paper tool: overview, one page, or matching passages."""
    from agent_scientist.agent.registry import ToolError
    from agent_scientist.papers.tool import read

    s = settings()
    ws = _workspace(s, name)
    has_memory = bool(s.memory_url) or (ws.memory_dir / "chroma.sqlite3").exists()
    memory = _memory(ws, s) if name and query and has_memory else None  # same passages as read_paper
    try:
        text = read(ws, s, paper_id, page, query, memory)
    except ToolError as exc:
        fail(str(exc), EXIT_FAILED)
    typer.echo(text)


@papers_app.command("list")
def list_cmd(
    name: str = typer.Argument(..., help="Workspace."),
    as_json: bool = typer.Option(False, "--json", help="Print the metadata as JSON."),
) -> None:
    """List the papers cached or added in workspace NAME."""
    s = settings()
    ws = open_workspace(s, name)
    papers = ws.papers()
    if as_json:
        print_json(papers)
        return
    for meta in papers:
        console.print(f"{meta['id']:<22} {meta.get('pages', 0):>4} p.  {meta.get('title', '')[:80]}",
                      highlight=False, markup=False)
    console.print(f"{len(papers)} papers.", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(papers_app, name="papers")
