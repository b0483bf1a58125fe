"""`agent-scientist papers ...`: the papers tools for a person, without a model.

`add` fills a workspace's library with local PDFs; `search` and `read` answer exactly as the planner's
tools do. Without --name, search and read cache in `<home>/.papers-cache/papers/` (a hidden folder of
the workspace home that is not a workspace), so repeated commands need no network either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from agent_scientist.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    cli_phrasing,
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
from agent_scientist.config import Settings
from agent_scientist.records import short
from agent_scientist.workspace import Workspace

CACHE_DIR = ".papers-cache"

papers_app = typer.Typer(help="Search arXiv, Semantic Scholar, OpenAlex, PubMed and more, follow citations, read papers, "
                              "and add your own PDFs to a workspace.",
                         no_args_is_help=True)


def _workspace(settings, name: str | None):
    """The named workspace, or the shared cache when no name is given."""

    if name:
        return open_workspace(settings, name)
    return Workspace(Path(settings.home) / CACHE_DIR)


def _memory(ws, settings, for_reading: bool = False):
    """The workspace memory, so added papers can be recalled before they are read; None without it."""
    from agent_scientist.memory import MemoryUnavailable, open_memory

    try:
        return open_memory(ws, settings, for_reading)
    except MemoryUnavailable as exc:  # the papers are still added; their passages are indexed when read
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
    settings = cli_settings()
    ws = open_or_create_workspace(settings, name)
    if ingest_and_report(ws, settings, [Path(f) for f in rest]):
        raise typer.Exit(EXIT_FAILED)


def ingest_and_report(ws: Workspace, settings: Settings, files: list[Path]) -> int:
    """Add PDFs to `ws`, say what happened to each, and return how many failed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agent_scientist.papers.tool import ingest_pdfs

    memory = _memory(ws, settings)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("adding PDFs", total=None)
        results = ingest_pdfs(ws, settings, files, memory=memory,
                              on_file=lambda done, total: bar.update(task, completed=done, total=total))
        left = memory.indexing_left() if hasattr(memory, "indexing_left") else 0
        if left:  # passages index in the background; a later run reads them, so finish here
            index = bar.add_task("indexing passages", total=left)
            while not memory.wait_indexed(0.2):
                bar.update(index, completed=left - memory.indexing_left())
    added_ids = [item["id"] for item in results if item.get("id") and not item.get("error")]
    unindexed = [pid for pid in added_ids if memory is not None and not memory.has_passages(pid)]
    if unindexed:  # the memory logged why; say which papers it concerns
        warn(f"passages of {', '.join(unindexed[:5])} were not indexed in memory; they are indexed when read.")
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
            console.print(f"added {item['id']}  {item['pages']} pages  {short(item['title'], 90)}{scanned}\n"
                          f"  by {short(authors, 120)}" + (f"\n  {item['note']}" if item.get("note") else ""),
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
    source: str = typer.Option("", "--source", help="arxiv, semantic_scholar, openalex, pubmed, europepmc, crossref or a comma-separated "
                                                   "list; default: the paper_sources setting."),
) -> None:
    """Search the paper sources (paper_sources, or --source) and the workspace's papers, like search_papers.

    Example: agent-scientist papers search "ti:dropout AND abs:calibration" --max-results 5 --name mylib
    """
    from agent_scientist.contracts import ToolError
    from agent_scientist.papers.tool import search

    settings = cli_settings()
    ws = _workspace(settings, name)
    try:
        results = search(ws, settings, query, max_results, sort, start_date, end_date, offset, source)
    except ToolError as exc:
        from agent_scientist.papers.search import workspace_hits

        local = workspace_hits(ws, query) if name else []  # the ranking search_papers puts first
        if not local:
            fail(cli_phrasing(str(exc), name), EXIT_FAILED)
        warn(f"The online sources could not be reached ({str(exc).rstrip('.')}); "
             f"showing the matching papers of workspace {name} only.")
        results = local
    if as_json:
        print_json(results)
        return
    from rich.table import Table

    table = Table(show_lines=False, expand=False)
    papers = [r for r in results if "id" in r]
    # An id is copied into the next command: its column never shrinks or wraps; the others wrap.
    table.add_column("id", no_wrap=True, min_width=max([len(str(r["id"])) for r in papers] + [2]))
    table.add_column("date", no_wrap=True)
    for column in ("title", "authors", "venue", "cites", "sources"):
        table.add_column(column, overflow="fold")
    for r in papers:
        cites = "" if r.get("citation_count") is None else str(r["citation_count"])
        title = ("RETRACTED: " if r.get("retracted") else "") + r["title"]
        table.add_row(r["id"], r.get("published") or str(r.get("year") or ""), title, ", ".join(r["authors"][:3]),
                      r.get("venue", ""), cites, ",".join(r.get("sources") or [r["source"]])
                      + (" (cached)" if r.get("in_workspace") else ""))
    console.print(table)
    for r in results:
        if "source_failed" in r:
            warn(f"{r['source_failed']} failed: {r['why']} ({r['fix']})")
    more = next((str(r["more"]) for r in results if r.get("more")), "")
    span = more.split(";")[0] + ". " if more else ""
    last = more.endswith("no more.") or len(papers) < max_results
    after = "No more results." if last else f"Next page: --offset {offset + max_results}."
    where = f" --name {name}" if name else ""
    console.print(f"{span}{after} Read one: agent-scientist papers read ID{where}", highlight=False)


@papers_app.command("graph")
def graph_cmd(
    paper_id: str = typer.Argument(..., metavar="ID", help="Any paper id: 2401.01234, doi:10..., s2:<hex>."),
    direction: str = typer.Option("references", "--direction", "-d", help="references, citations or related."),
    limit: int = typer.Option(20, "--limit", "-n", help="Items per page (1-100)."),
    offset: int = typer.Option(0, "--offset", help="Skip this many items (next page)."),
    as_json: bool = typer.Option(False, "--json", help="Print the items as JSON."),
    name: str = typer.Option(None, "--name", help="Workspace whose cache and papers to use."),
) -> None:
    """Follow the citation graph like the planner's paper_graph tool."""
    from agent_scientist.contracts import ToolError
    from agent_scientist.papers.tool import graph

    settings = cli_settings()
    ws = _workspace(settings, name)
    try:
        items = graph(ws, settings, paper_id, direction, limit, offset)
    except ToolError as exc:
        fail(str(exc), EXIT_FAILED)
    if as_json:
        print_json(items)
        return
    for item in items:
        cites = "" if item.get("citation_count") is None else f"  cited {item['citation_count']}"
        facts = ", ".join(str(x) for x in (item.get("venue"), item.get("year")) if x)
        console.print(f"{item['id']}  {item['title'][:90]}" + (f" ({facts})" if facts else "") + cites
                      + ("  [influential]" if item.get("influential") else ""), highlight=False, markup=False)
        for context in item.get("contexts") or []:
            console.print(f"    \u201c{context[:200]}\u201d", highlight=False, markup=False)
    console.print(items[-1]["more"], highlight=False, markup=False)


@papers_app.command("read")
def read_cmd(
    paper_id: str = typer.Argument(..., metavar="ID", help="2401.01234[v2], arXiv:..., doi:10..., s2:<hex>, "
                                                           "an arxiv.org or doi.org URL, or local:..."),
    page: int = typer.Option(0, "--page", "-p", help="0 for the overview, N for page N."),
    query: str = typer.Option("", "--query", "-q", help="Show the passages that best match these words."),
    name: str = typer.Option(None, "--name", help="Workspace whose cache and papers to use."),
    table: int = typer.Option(0, "--table", help="Show table N as a markdown grid (--page N: its next part)."),
    csv_out: bool = typer.Option(False, "--csv", help="With --table: the whole table as CSV."),
    figure: int = typer.Option(0, "--figure", help="Show figure N: caption, text inside it, image file."),
    output: Path = typer.Option(None, "--output", "-o", help="With --figure: copy its PNG image here."),
) -> None:
    """Read a paper like the planner's read_paper tool: overview, one page, matching passages, a table or a figure.

    Example: agent-scientist papers read 2401.01234 --page 3 --name mylib
    Example: agent-scientist papers read 2401.01234 --table 2 --csv > table2.csv
    """
    if csv_out and not table:
        fail("--csv goes with --table N.", EXIT_USAGE)
    if output is not None and not figure:
        fail("--output goes with --figure N.", EXIT_USAGE)
    from agent_scientist.contracts import ToolError
    from agent_scientist.papers.tool import read

    settings = cli_settings()
    ws = _workspace(settings, name)
    has_memory = bool(settings.memory_url) or (ws.memory_dir / "chroma.sqlite3").exists()
    if name and query and has_memory:
        from agent_scientist.memory.embedding import preload

        preload(settings)  # the query's model loads while the store opens
    # same passages as read_paper; opened for reading (without importing chromadb), the client if it must index
    memory = _memory(ws, settings, for_reading=True) if name and query and has_memory else None
    try:
        # no extraction started in the background: this process exits first, killing it mid-way (and it would
        # start again at every read); --table / --figure extract, once, and wait for it
        text = read(ws, settings, paper_id, page, query, memory, table, figure, background=False)
        if csv_out or output is not None:
            text = _table_or_figure_file(ws, paper_id, table, figure, output) or text
    except ToolError as exc:
        holders = [w for w in _workspaces_holding(settings, paper_id) if w != name]
        hint = ""
        if holders:
            hint = (f"\nWorkspace {holders[0]} holds it: agent-scientist papers read {paper_id}"
                    f"{' --page ' + str(page) if page else ''} --name {holders[0]}")
        fail(cli_phrasing(str(exc), name) + hint, EXIT_FAILED)
    typer.echo(cli_phrasing(text, name))


def _table_or_figure_file(ws: Any, paper_id: str, table: int, figure: int, output: Path | None) -> str:
    """The table as CSV (printed), or the figure's PNG copied to `output` (a line saying where)."""
    import csv
    import io

    from agent_scientist.fsio import atomic_write_bytes
    from agent_scientist.papers import visuals
    from agent_scientist.papers.layout import paper_dir
    from agent_scientist.papers.store import find_paper

    meta = find_paper(ws, paper_id)
    folder = paper_dir(ws, meta["id"]) if meta else None
    found = visuals.ensure(folder) if folder else None  # read() found the paper and the table or figure
    if table:
        grid = visuals.find_table(found, table)
        if grid is None:
            fail(f"Table {table} is not in the paper.", EXIT_FAILED)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([[c or "" for c in row] for row in grid["rows"]])
        return buffer.getvalue().rstrip("\n")
    item = visuals.find_figure(found, figure)
    if item is None or "image" not in item or "size" not in item or folder is None or output is None:
        fail(f"Figure {figure} has no rendered image.", EXIT_FAILED)
    try:
        atomic_write_bytes(output, (folder / item["image"]).read_bytes())
    except OSError as exc:
        fail(f"Could not write {output}: {exc}.", EXIT_FAILED)
    return f"Figure {figure} written to {output} ({item['size'][0]}x{item['size'][1]} px)."


@papers_app.command("list")
def list_cmd(
    old_name: str = typer.Argument(None, metavar="[NAME]", help="The old form of --name.", show_default=False),
    name: str = typer.Option(None, "--name", help="Workspace."),
    as_json: bool = typer.Option(False, "--json", metavar="", help="Print the metadata as JSON."),
) -> None:
    """List the papers cached or added in workspace --name."""
    name = name_or_old_form(name, old_name, "papers list")
    settings = cli_settings()
    ws = open_workspace(settings, name)
    papers = ws.papers()
    if as_json:
        print_json(papers)
        return
    for meta in papers:
        console.print(f"{meta['id']:<22} {meta.get('pages', 0):>4} p.  {short(meta.get('title'), 80)}",
                      highlight=False, markup=False)
    console.print(f"{len(papers)} papers.", highlight=False)


def _workspaces_holding(settings: Settings, paper_id: str) -> list[str]:
    """Workspaces of the home whose papers/ hold this id (exact, or any version of an arXiv id)."""
    from agent_scientist.papers.layout import holds
    from agent_scientist.workspace import list_names

    return [name for name in list_names(settings.home) if holds(Path(settings.home) / name / "papers", paper_id)]


def register(app: typer.Typer) -> None:
    app.add_typer(papers_app, name="papers")
