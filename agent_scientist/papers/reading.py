"""Reading: fetch a paper once (arXiv, or an open-access PDF), cache it, answer with a bounded view."""

from __future__ import annotations

from typing import Any

from agent_scientist.agent.registry import ToolError
from agent_scientist.config import Settings
from agent_scientist.papers.ids import base_id, version_of
from agent_scientist.papers.store import (
    add_passages,
    cached_entry,
    find_paper,
    load_pages,
    paper_meta,
    parse_paper_id,
    store_paper,
)
from agent_scientist.papers.views import overview, page_view, passages_view
from agent_scientist.workspace import Workspace


def read(ws: Workspace, settings: Settings, paper_id: str, page: int = 0, query: str = "",
         memory: Any = None) -> str:
    """Overview (page 0), one page, or best passages of a paper, fetching and caching it on first use."""
    pid = parse_paper_id(paper_id)
    try:
        page = int(page or 0)
    except (TypeError, ValueError):
        raise ToolError(f"page={page!r} is not a number: use 0 for the overview or a page number.") from None
    meta = find_paper(ws, pid) or _fetch(ws, settings, pid)
    data = load_pages(ws, meta["id"])
    note = add_passages(memory, meta["id"], data.get("pages", []))
    if str(query or "").strip():
        text = passages_view(meta, data, str(query).strip(), memory if not note else None, settings.read_chars)
    elif page == 0:
        text = overview(meta, data, settings.read_chars)
    else:
        text = page_view(meta, data, page, settings.read_chars)
    return text + (f"\n[note: {note}]" if note else "")


def _fetch(ws: Workspace, settings: Settings, pid: str) -> dict:
    from agent_scientist.papers.arxiv import FetchError, check_pdf_bytes, download_pdf, query_api
    from agent_scientist.papers.pdf import PdfError, extract

    if pid.startswith("local:"):
        known = ", ".join(m["id"] for m in ws.papers() if m.get("source") == "local")[:400] or "none"
        raise ToolError(f"No local paper {pid} in this workspace (local papers: {known}). A person adds PDFs "
                        "with `agent-scientist papers add NAME FILE...`.")
    entry = cached_entry(ws, pid)
    if entry is None:
        try:
            entries, _ = query_api(settings, id_list=(pid,), max_results=1)
        except FetchError as exc:
            raise ToolError(f"Could not fetch arXiv:{pid} ({exc}). Papers already cached stay readable"
                            f"{_cached_list(ws)}; try again later.") from None
        if not entries or not entries[0].get("title"):
            raise ToolError(f"arXiv has no paper {pid}. Check the id; search_papers finds ids.")
        entry = entries[0]
    vid = entry["id"] if version_of(entry["id"]) or not version_of(pid) else pid
    summary = f"Title: {entry.get('title', '')}. Abstract: {entry.get('abstract', '')[:800]}"
    comment = entry.get("comment") or ""
    if "withdrawn" in comment.lower() or entry.get("abstract", "").lower().startswith("this paper has been withdrawn"):
        earlier = f" An earlier version may be readable: read_paper('{base_id(vid)}v{version_of(vid) - 1}')." \
            if version_of(vid) > 1 else ""
        raise ToolError(f"arXiv:{vid} has been withdrawn by its authors ({comment or 'no reason given'}); "
                        f"do not rely on it.{earlier}")
    cached_pdf = ws.paper_dir(vid) / "paper.pdf"
    try:
        if cached_pdf.is_file():
            data = cached_pdf.read_bytes()
            check_pdf_bytes(data, str(cached_pdf))
        else:
            data = download_pdf(settings, vid)
        extracted = extract(data, settings.pdf_max_pages)
    except FetchError as exc:
        cached = f" Papers already cached stay readable{_cached_list(ws)}." if exc.kind == "offline" else ""
        raise ToolError(f"Could not download the PDF of arXiv:{vid}: {exc}. Nothing was saved.{cached} "
                        f"{summary}") from None
    except PdfError as exc:
        raise ToolError(f"The PDF of arXiv:{vid} cannot be read: {exc}. Nothing was saved. {summary}") from None
    meta = paper_meta(vid, "arxiv", entry, scanned=extracted.scanned)
    return store_paper(ws, meta, data, extracted)


def _cached_list(ws: Workspace, limit: int = 8) -> str:
    """`: id, id, ... (N more)` of the papers readable without network, or "" when there are none."""
    ids = [m["id"] for m in ws.papers() if (ws.paper_dir(m["id"]) / "pages.json").is_file()]
    if not ids:
        return " (none in this workspace yet)"
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ": " + ", ".join(ids[:limit]) + more


