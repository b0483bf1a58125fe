"""The papers capability: `search_papers` and `read_paper` for the planner, and the same for the CLI.

Search asks arXiv (cached per query in the workspace) and also ranks the papers already in the
workspace. Reading downloads and extracts a paper once, then answers from papers/<key>/ with an
overview, one page, or the passages that best match a query; every answer is bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from agent_scientist.agent.registry import Check, Toolbox, ToolContext, ToolError
from agent_scientist.config import Settings
from agent_scientist.fsio import atomic_write_json, read_json
from agent_scientist.papers.store import (
    add_passages,
    base_id,
    bm25,
    cached_entry,
    chunk_pages,
    citation_label,
    find_paper,
    ingest_pdfs,
    load_pages,
    page_count,
    parse_paper_id,
    query_terms,
    search_cache_path,
    store_paper,
    tokens,
    version_of,
)
from agent_scientist.workspace import Workspace, now_iso

__all__ = ["search", "read", "ingest_pdfs", "page_count", "load_pages", "find_paper", "PapersCapability"]

PAPERS_GUIDE = (
    "Papers: search with `search_papers` and a precise query; refine it (arXiv syntax: ti:, abs:, au:, cat:, "
    "AND/OR/ANDNOT). `read_paper(id)` gives an overview with outline and page count; then read only the "
    "pages you need, or `read_paper(id, query=\"...\")` for passages. Cite claims with their page, e.g. "
    "[arXiv:2401.01234 p.3]. For example:\n"
    "    for p in search_papers('abs:\"label smoothing\" AND abs:calibration', max_results=5):\n"
    "        print(p['id'], p['published'], p['title'])"
)
MAX_RESULTS = 50
WORKSPACE_HITS = 3
ABSTRACT_CHARS = 600
ABSTRACTS_BUDGET = 12_000  # characters of abstracts in one answer: many results get shorter abstracts
AUTHORS_SHOWN = 5
PASSAGES = 4
SORTS = {"relevance": "relevance", "submitted": "submitted", "submitteddate": "submitted", "date": "submitted",
         "updated": "updated", "lastupdateddate": "updated"}


def _date(value: str, name: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    try:
        return datetime.strptime(value, "%Y-%m-%d").strftime("%Y%m%d")
    except ValueError:
        raise ToolError(f"{name}={value!r} is not a date: use YYYY-MM-DD, e.g. '2023-01-31', or ''.") from None


def _whole(value: Any, name: str) -> int:
    """An int argument the model may have passed as text; a clear error instead of a traceback."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ToolError(f"{name}={value!r} is not a whole number, e.g. {name}=10.") from None


def build_query(query: str, start_date: str = "", end_date: str = "") -> str:
    """The arXiv search_query: the user's query, ANDed with a submittedDate range when dates are given."""
    start, end = _date(start_date, "start_date"), _date(end_date, "end_date")
    if start and end and start > end:
        raise ToolError(f"start_date {start_date} is after end_date {end_date}; swap them.")
    if not (start or end):
        return query
    return f"({query}) AND submittedDate:[{start or '19910101'}0000 TO {end or '29991231'}2359]"


def search(ws: Workspace, settings: Settings, query: str, max_results: int = 10, sort_by: str = "relevance",
           start_date: str = "", end_date: str = "", offset: int = 0) -> list[dict]:
    """arXiv results (cached per query in the workspace), preceded at offset 0 by matching workspace papers."""
    from agent_scientist.papers.arxiv import FetchError, query_api

    query = " ".join(str(query or "").split())
    if not query:
        raise ToolError("Empty query: give words, or fields like ti:transformer AND cat:cs.LG.")
    sort = SORTS.get(str(sort_by or "relevance").strip().lower().replace("_", ""))
    if sort is None:
        raise ToolError(f"sort_by={sort_by!r} is unknown: use 'relevance', 'submitted' or 'updated'.")
    size = max(1, min(_whole(max_results or 10, "max_results"), MAX_RESULTS))
    offset = max(0, _whole(offset or 0, "offset"))
    search_query = build_query(query, start_date, end_date)
    params = {"api": settings.arxiv_api_url, "search_query": search_query, "start": offset, "max_results": size,
              "sort": sort}
    cache = search_cache_path(ws, params)
    local = _workspace_hits(ws, query, start_date, end_date) if offset == 0 else []
    try:
        cached = read_json(cache)
        entries, total = cached["entries"], int(cached.get("total") or 0)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        try:
            entries, total = query_api(settings, search_query=search_query, start=offset, max_results=size,
                                       sort_by=sort)
        except FetchError as exc:
            seen = "; ".join(f"{h['id']} ({h['title'][:60]})" for h in local)
            raise ToolError(f"arXiv search failed: {exc}. Retry later"
                            + (f"; papers already in the workspace that match: {seen}." if seen else ".")) from None
        atomic_write_json(cache, {"params": params, "total": total, "fetched_at": now_iso(), "entries": entries})
    have = {base_id(m["id"]) for m in ws.papers()}
    room = max(200, min(ABSTRACT_CHARS, ABSTRACTS_BUDGET // size))
    results = [_result(e, "arxiv", base_id(e["id"]) in have, room) for e in entries]
    if results:
        results[-1]["more"] = _more(offset, len(results), total, size)
    shown = {base_id(r["id"]) for r in results}
    results = [h for h in local if base_id(h["id"]) not in shown] + results
    if not results:
        where = f" after offset {offset}" if offset else ""
        raise ToolError(f"No arXiv results for {search_query!r}{where}. Try broader or fewer terms, "
                        "other fields (ti:, abs:, au:, cat:), or wider dates.")
    return results


def _more(offset: int, shown: int, total: int, size: int) -> str:
    """How to get the next results, said on the last result (the answer is a list, so it rides along)."""
    span = f"arXiv results {offset + 1}-{offset + shown}" + (f" of {total}" if total else "")
    if total and offset + shown >= total:
        return f"{span}; no more."
    return f"{span}; next page: search_papers(same query, offset={offset + size})."


def _result(entry: dict, source: str, in_workspace: bool = False, room: int = 0) -> dict:
    authors = list(entry.get("authors") or [])
    if len(authors) > AUTHORS_SHOWN + 1:
        authors = authors[:AUTHORS_SHOWN] + [f"et al. ({len(authors)} authors)"]
    abstract = entry.get("abstract") or ""
    room = room or ABSTRACT_CHARS
    if len(abstract) > room:
        abstract = abstract[:room].rsplit(" ", 1)[0] + " … (read_paper(id) for the full abstract)"
    result = {"id": entry["id"], "title": entry.get("title", ""), "authors": authors,
              "published": entry.get("published", ""), "categories": entry.get("categories", []),
              "abstract": abstract, "pdf_url": entry.get("pdf_url", ""), "source": source}
    if source == "workspace":
        result["pages"] = entry.get("pages", 0)
    else:
        result["in_workspace"] = in_workspace
    return result


def _workspace_hits(ws: Workspace, query: str, start_date: str, end_date: str) -> list[dict]:
    """Papers already in the workspace (arXiv or local) ranked lexically against the query."""
    terms = query_terms(query)
    papers = [m for m in ws.papers() if _in_dates(m, start_date, end_date)]
    if not terms or not papers:
        return []
    docs = []
    for meta in papers:
        first = ""
        try:
            first = " ".join(read_json(ws.paper_dir(meta["id"]) / "pages.json")["pages"][:2])[:6000]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        docs.append(" ".join([meta.get("title", "")] * 3 + [" ".join(meta.get("authors", [])),
                                                             meta.get("abstract", ""), first]))
    scores = bm25(terms, docs)
    ranked = sorted((s, i) for i, s in enumerate(scores) if s > 0)[::-1][:WORKSPACE_HITS]
    return [_result(papers[i], "workspace") for _, i in ranked]


def _in_dates(meta: dict, start_date: str, end_date: str) -> bool:
    published = (meta.get("published") or "").replace("-", "")
    if not published:
        return not (start_date or end_date)
    return (not start_date or published >= _date(start_date, "start_date")) and (
        not end_date or published <= _date(end_date, "end_date"))


# -- reading -------------------------------------------------------------------
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
        text = _passages(meta, data, str(query).strip(), memory if not note else None, settings.read_chars)
    elif page == 0:
        text = _overview(meta, data, settings.read_chars)
    else:
        text = _page(meta, data, page, settings.read_chars)
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
    meta = {"id": vid, "source": "arxiv", "title": entry.get("title", ""), "authors": entry.get("authors", []),
            "published": entry.get("published", ""), "year": entry.get("year"),
            "categories": entry.get("categories", []), "primary_category": entry.get("primary_category", ""),
            "abstract": entry.get("abstract", ""), "pdf_url": entry.get("pdf_url", ""),
            "abs_url": entry.get("abs_url", ""), "comment": comment}
    if extracted.scanned:
        meta["scanned"] = True
    return store_paper(ws, meta, data, extracted)


def _cached_list(ws: Workspace, limit: int = 8) -> str:
    """`: id, id, ... (N more)` of the papers readable without network, or "" when there are none."""
    ids = [m["id"] for m in ws.papers() if (ws.paper_dir(m["id"]) / "pages.json").is_file()]
    if not ids:
        return " (none in this workspace yet)"
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ": " + ", ".join(ids[:limit]) + more


def _header(meta: dict, what: str) -> str:
    return f"[{citation_label(meta['id'])} {what}]"


def _overview(meta: dict, data: dict, limit: int) -> str:
    pages = len(data.get("pages", []))
    authors = meta.get("authors") or []
    shown = ", ".join(authors[:8]) + (f" et al. ({len(authors)} authors)" if len(authors) > 8 else "")
    lines = [f"{_header(meta, 'overview')} {meta.get('title', '')}",
             f"Authors: {shown or 'unknown'}",
             f"Date: {meta.get('published') or meta.get('year') or 'unknown'} | Pages: {pages}"
             + (f" (first {pages} of {meta['total_pages']}; raise AGENT_SCIENTIST_PDF_MAX_PAGES)"
                if meta.get("total_pages") else "")
             + (f" | Categories: {', '.join(meta['categories'])}" if meta.get("categories") else "")]
    if meta.get("scanned"):
        lines.append("This PDF is a scanned image without a text layer: its pages cannot be read (no OCR). "
                     "Rely on the abstract and metadata.")
    if meta.get("abstract"):
        abstract = meta["abstract"]
        room = max(300, min(2000, limit // 3))
        lines.append(f"Abstract: {abstract[:room]}" + (" …" if len(abstract) > room else ""))
    tail = (f"Read a page: read_paper('{meta['id']}', page=N) (1-{pages}); find passages: "
            f"read_paper('{meta['id']}', query='...'). Cite as [{citation_label(meta['id'])} p.N].")
    budget = limit - sum(len(x) + 1 for x in lines) - len(tail) - 80
    sections = [("Outline", [f"{'  ' * (max(1, o.get('level', 1)) - 1)}{o['title']} (p.{o['page']})"
                             for o in data.get("outline", [])]),
                ("Figures and tables", [f"p.{c['page']}: {c['text'][:200]}" for c in data.get("captions", [])])]
    for title, items in sections:
        if not items:
            continue
        kept: list[str] = []
        share = budget // 2 if title == "Outline" and data.get("captions") else budget
        for item in items:
            if sum(len(k) + 3 for k in kept) + len(item) > share:
                break
            kept.append(item)
        budget -= sum(len(k) + 3 for k in kept)
        more = f"\n  ... {len(items) - len(kept)} more (read the pages)" if len(kept) < len(items) else ""
        lines.append(f"{title}:\n  " + "\n  ".join(kept) + more)
    body = "\n".join(lines)
    return body[: max(0, limit - len(tail) - 1)] + "\n" + tail


def _page(meta: dict, data: dict, page: int, limit: int) -> str:
    pages = data.get("pages", [])
    if not 1 <= page <= len(pages):
        raise ToolError(f"Page {page} is out of range: {citation_label(meta['id'])} has {len(pages)} pages "
                        f"(1-{len(pages)}); page=0 gives the overview.")
    text = pages[page - 1]
    if page in data.get("scanned_pages", []) or not text.strip():
        text = "(This page has no text layer: it is a scanned image or a figure; no OCR is available.)"
    header = _header(meta, f"p.{page}/{len(pages)}")
    if len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0]
        return (f"{header}\n{cut}\n[... page {page} continues for {len(text) - len(cut)} more characters; "
                f"read_paper('{meta['id']}', query='words from the rest') finds them"
                + (f"; next page: page={page + 1}]" if page < len(pages) else "]"))
    more = f"next: read_paper('{meta['id']}', page={page + 1})" if page < len(pages) else "last page"
    return f"{header}\n{text}\n[{more}]"


def _passages(meta: dict, data: dict, query: str, memory: Any, limit: int) -> str:
    hits: list[dict] = []
    if memory is not None:
        try:
            hits = [h for h in memory.search_passages(query, PASSAGES, meta["id"]) if h.get("text")]
        except Exception:
            hits = []
    if not hits:
        chunks = chunk_pages(data.get("pages", []))
        scores = bm25(tokens(query), [c["text"] for c in chunks])
        ranked = sorted(((s, i) for i, s in enumerate(scores) if s > 0), reverse=True)[:PASSAGES]
        hits = [{**chunks[i], "score": round(s, 3)} for s, i in ranked]
    label = citation_label(meta["id"])
    if not hits:
        return (f"[{label} passages for {query!r}] No passage matches. Try other words, or see the outline "
                f"with read_paper('{meta['id']}').")
    per = max(300, limit // len(hits) - 80)
    parts = [f"[{label} passages for {query!r}]"]
    for n, hit in enumerate(hits, start=1):
        start, end = hit.get("page_start"), hit.get("page_end")
        where = f"p.{start}" if start == end else f"p.{start}-{end}"
        text = " ".join(str(hit["text"]).split())
        parts.append(f"({n}) {where}: {text[:per]}{' …' if len(text) > per else ''}")
    parts.append(f"Cite as [{label} p.N]; whole page: read_paper('{meta['id']}', page=N).")
    return "\n".join(parts)


def doctor_checks(settings: Settings) -> list[Check]:
    """Local checks for `doctor` (no network): pymupdf loads, the PDF URL template has {id}."""
    checks = []
    try:
        import pymupdf

        checks.append(("pymupdf", True, pymupdf.VersionBind))
    except Exception as exc:  # pragma: no cover - an install problem
        checks.append(("pymupdf", False, f"cannot import ({exc}); reinstall agent-scientist"))
    ok = "{id}" in settings.arxiv_pdf_url
    checks.append(("arxiv_pdf_url", ok, settings.arxiv_pdf_url if ok else
                   "AGENT_SCIENTIST_ARXIV_PDF_URL must contain {id}, e.g. https://arxiv.org/pdf/{id}"))
    return checks


class PapersCapability:
    """`search_papers` and `read_paper`; `passages` returns the index for paper passages (or None)."""

    name = "papers"

    def __init__(self, passages: Callable[[], Any] | None = None) -> None:
        self.passages = passages or (lambda: None)

    def register(self, ctx: ToolContext, box: Toolbox) -> None:
        _register(self, ctx, box)

    def doctor_checks(self, settings: Settings) -> list[Check]:
        return doctor_checks(settings)


def _register(cap: PapersCapability, ctx: ToolContext, box: Toolbox) -> None:
    """Give the planner `search_papers` and `read_paper` bound to this workspace."""

    def search_papers(query: str, max_results: int = 10, sort_by: str = "relevance", start_date: str = "",
                      end_date: str = "", offset: int = 0) -> list[dict]:
        """Search arXiv, plus the papers already in this workspace (marked source="workspace").

        Each result: id (with version), title, authors, published, categories, abstract (shortened), pdf_url.
        The last arXiv result also has "more": the total and the offset of the next page.

        Args:
            query: words, or arXiv syntax: ti:, au:, abs:, cat: fields with AND, OR, ANDNOT.
            max_results: number of arXiv results, 1 to 50.
            sort_by: "relevance", "submitted" or "updated" (newest first).
            start_date: earliest submission date YYYY-MM-DD, or "" for no limit.
            end_date: latest submission date YYYY-MM-DD, or "" for no limit.
            offset: results to skip, to get the next page (e.g. 10).
        """
        return search(ctx.ws, ctx.settings, query, max_results, sort_by, start_date, end_date, offset)

    def read_paper(paper_id: str, page: int = 0, query: str = "") -> str:
        """Read a paper's full text (downloaded and cached on first use); answers are bounded.

        page=0 gives an overview (abstract, outline with pages, captions, page count); page=N gives
        page N; query="..." gives the best matching passages with their pages. Cite as [arXiv:ID p.N].

        Args:
            paper_id: e.g. "2401.01234", "2401.01234v2", "arXiv:2401.01234", an arxiv.org URL, or "local:ab12cd34".
            page: 0 for the overview, or a page number from 1.
            query: words to find in this paper; when given, page is ignored.
        """
        return read(ctx.ws, ctx.settings, paper_id, page, query, cap.passages())

    box.add_functions(search_papers, read_paper)
    box.instructions.append(PAPERS_GUIDE)
