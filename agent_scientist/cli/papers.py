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
    cli_phrasing,
    console,
    fail,
    open_or_create_workspace,
    open_workspace,
    print_json,
    settings,
    warn,
    workspace_and_args,
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
    files: list[str] = typer.Argument(..., metavar="FILE...", help="PDF files, or folders of PDFs."),
    name: str = typer.Option(None, "--name", help="Workspace to add to (created if missing, as `init` does)."),
) -> None:
    """Add your own PDFs to workspace --name as local papers (ids local:<hash>).

    Example: agent-scientist papers add ~/papers/*.pdf --name mylib
    """
    if not name and files and Path(files[0]).exists():
        fail("Say which workspace: agent-scientist papers add FILE... --name NAME (see agent-scientist list).")
    name, rest = workspace_and_args(name, files, 0, "papers add", "FILE...")
    s = settings()
    ws = open_or_create_workspace(s, name)
    if ingest_and_report(ws, s, [Path(f) for f in rest]):
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
            authors = ", ".join(item.get("authors") or []) or "authors unknown"
            console.print(f"added {item['id']}  {item['pages']} pages  {item['title'][:90]}{scanned}\n"
                          f"  by {authors[:120]}" + (f"\n  {item['note']}" if item.get("note") else ""),
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
    as_json: bool = typer.Option(False, "--json", metavar="", help="Print the results as JSON."),
    name: str = typer.Option(None, "--name", help="Workspace whose cache and papers to use."),
) -> None:
    """Search arXiv (and the workspace's papers) like the planner's search_papers tool.

    Example: agent-scientist papers search "ti:dropout AND abs:calibration" --max-results 5 --name mylib
    """
    from agent_scientist.agent.registry import ToolError
    from agent_scientist.papers.tool import search

    s = settings()
    ws = _workspace(s, name)
    try:
        results = search(ws, s, query, max_results, sort, start_date, end_date, offset)
    except ToolError as exc:
        local = _local_matches(ws, query) if name else []
        if not local:
            fail(cli_phrasing(str(exc), name), EXIT_FAILED)
        warn(f"The online sources could not be reached ({str(exc).split('.')[0]}); "
             f"showing the matching papers of workspace {name} only.")
        results = local
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
    more = str(results[-1].get("more", "")) if results else ""
    span = more.split(";")[0] + ". " if more else ""
    after = "No more results." if more.endswith("no more.") else f"Next page: --offset {offset + max_results}."
    where = f" --name {name}" if name else ""
    console.print(f"{span}{after} Read one: agent-scientist papers read ID{where}", highlight=False)


@papers_app.command("read")
def read_cmd(
    paper_id: str = typer.Argument(..., metavar="ID", help="2401.01234[v2], arXiv:..., an arxiv.org URL or local:..."),
    page: int = typer.Option(0, "--page", "-p", help="0 for the overview, N for page N."),
    query: str = typer.Option("", "--query", "-q", help="Show the passages that best match these words."),
    name: str = typer.Option(None, "--name", help="Workspace whose cache and papers to use."),
) -> None:
    """Read a paper like the planner's read_paper tool: overview, one page, or matching passages.

    Example: agent-scientist papers read 2401.01234 --page 3 --name mylib
    """
    from agent_scientist.agent.registry import ToolError
    from agent_scientist.papers.tool import read

    s = settings()
    ws = _workspace(s, name)
    has_memory = bool(s.memory_url) or (ws.memory_dir / "chroma.sqlite3").exists()
    memory = _memory(ws, s) if name and query and has_memory else None  # same passages as read_paper
    try:
        text = read(ws, s, paper_id, page, query, memory)
    except ToolError as exc:
        holders = [w for w in _workspaces_holding(s, paper_id) if w != name]
        hint = ""
        if holders:
            hint = (f"\nWorkspace {holders[0]} holds it: agent-scientist papers read {paper_id}"
                    f"{' --page ' + str(page) if page else ''} --name {holders[0]}")
        fail(cli_phrasing(str(exc), name) + hint, EXIT_FAILED)
    typer.echo(cli_phrasing(text, name))


@papers_app.command("list")
def list_cmd(
    old_name: str = typer.Argument(None, metavar="[NAME]", help="The old form of --name.", show_default=False),
    name: str = typer.Option(None, "--name", help="Workspace."),
    as_json: bool = typer.Option(False, "--json", metavar="", help="Print the metadata as JSON."),
) -> None:
    """List the papers cached or added in workspace --name."""
    if not name and not old_name:
        fail("Say which workspace: agent-scientist papers list --name NAME (see agent-scientist list).")
    if not name:
        warn(f"`papers list NAME` is the old form; write: agent-scientist papers list --name {old_name}")
    name = name or old_name
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


def _local_matches(ws: Workspace, query: str) -> list[dict]:
    """Papers of the workspace whose title, authors or abstract share words with the query (offline search)."""
    import re

    words = {w for w in re.findall(r"[a-z0-9]{3,}", query.lower()) if w not in {"and", "the", "for", "with"}}
    found = []
    for meta in ws.papers():
        text = " ".join([meta.get("title", ""), " ".join(meta.get("authors") or []), meta.get("abstract", "")]).lower()
        score = sum(1 for w in words if w in text)
        if score:
            found.append((score, meta))
    found.sort(key=lambda item: -item[0])
    return [{"id": m["id"], "published": m.get("published", ""), "title": m.get("title", ""),
             "authors": m.get("authors") or [], "source": m.get("source", "local"), "in_workspace": True}
            for _, m in found[:10]]


def _workspaces_holding(s: Settings, paper_id: str) -> list[str]:
    """Workspaces of the home whose papers/ hold this id (exact, or any version of an arXiv id)."""
    from agent_scientist.workspace import list_names, paper_key

    key = paper_key(paper_id.strip().lower() if paper_id.strip().lower().startswith("local:") else paper_id.strip())
    key = key.removeprefix("arXiv_").removeprefix("arxiv_")
    holders = []
    for ws_name in list_names(s.home):
        folder = Path(s.home) / ws_name / "papers"
        if (folder / key / "meta.json").is_file() or any(folder.glob(f"{key}v*/meta.json")):
            holders.append(ws_name)
    return holders


def register(app: typer.Typer) -> None:
    app.add_typer(papers_app, name="papers")
