"""Reading: fetch a paper once (arXiv, or an open-access PDF), cache it, answer with a bounded view."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_scientist.config import Settings
from agent_scientist.contracts import ToolError
from agent_scientist.fsio import atomic_write_json, read_json
from agent_scientist.papers import ids, visuals
from agent_scientist.papers.describe import image_path
from agent_scientist.papers.ids import base_id, version_of
from agent_scientist.papers.layout import paper_dir
from agent_scientist.papers.search import source_names
from agent_scientist.papers.store import (
    add_passages,
    annotate,
    cached_entry,
    find_paper,
    load_pages,
    paper_meta,
    parse_paper_id,
    search_cache_path,
    store_abstract_only,
    store_paper,
)
from agent_scientist.papers.views import figure_view, overview, page_view, passages_view, table_view
from agent_scientist.records import FigureRecord, PageTexts, PaperMeta
from agent_scientist.workspace import Workspace, now_iso

FIGURE_TEXT_ONLY = "(Caption and text only: the image is not shown to this model; the image file holds it.)"
FIGURE_ATTACHED = "(The figure's image is attached to this observation: look at it in the next step.)"
# What the reader is told of a figure it cannot see: fn(meta, paper folder, pages.json data, figure record).
FigureNote = Callable[[PaperMeta, Path, PageTexts, FigureRecord], str]


def read(ws: Workspace, settings: Settings, paper_id: str, page: int = 0, query: str = "",
         memory: Any = None, table: int = 0, figure: int = 0, seen: str | FigureNote = FIGURE_TEXT_ONLY,
         background: bool = True) -> str:
    """Overview (page 0), one page, best passages, a table or a figure of a paper, fetching and caching it on
    first use; tables and figures are extracted once in the background from the first read on (`background`:
    a one-shot command, which would exit before the extraction ends, passes False). `seen` says what the
    reader sees of a figure's image (a line, or a function making it for the figure)."""
    pid = parse_paper_id(paper_id)
    numbers = {}
    for name, value in (("page", page), ("table", table), ("figure", figure)):
        try:
            numbers[name] = int(value or 0)
        except (TypeError, ValueError):
            raise ToolError(f"{name}={value!r} is not a number: use 0 for the overview or a {name} number.") from None
    page, table, figure = numbers["page"], numbers["table"], numbers["figure"]
    meta = find_paper(ws, pid) or _fetch(ws, settings, pid)
    data = load_pages(ws, meta["id"])
    folder = paper_dir(ws, meta["id"])
    if background:
        visuals.start(folder, settings.pdf_max_pages)
    note = add_passages(memory, meta["id"], data.get("pages", []))
    if table or figure:
        if meta.get("full_text") is False:
            raise ToolError(f"{ids.citation_label(meta['id'])} has no full text in this workspace: it has no tables "
                            "or figures to read; page=0 gives the abstract and metadata.")
        found = visuals.ensure(folder, settings.pdf_max_pages)
        if table:
            text = table_view(meta, found, table, page, settings.read_chars)
        else:
            record = visuals.find_figure(found, figure)
            image = image_path(folder, record) if record else None
            path = str(image.relative_to(ws.root)) if image else ""
            told = seen(meta, folder, data, record) if record is not None and not isinstance(seen, str) \
                else seen if isinstance(seen, str) else FIGURE_TEXT_ONLY
            text = figure_view(meta, found, figure, path, told, settings.read_chars)
    elif str(query or "").strip():
        text = passages_view(meta, data, str(query).strip(), memory if not note else None, settings.read_chars)
    elif page == 0:
        text = overview(meta, data, settings.read_chars, visuals.cached(folder))
    else:
        data = ocr_late(folder, data, page)
        text = page_view(meta, data, page, settings.read_chars, visuals.cached(folder))
    return text + (f"\n[note: {note}]" if note else "")


def figure_image(ws: Workspace, paper_id: str, number: int) -> Path | None:
    """The PNG of figure `number` of a cached paper, found from the paper's own extraction (never from a path
    written by a model), or None when the paper, the figure or its image is not there."""
    try:
        meta = find_paper(ws, parse_paper_id(paper_id))
    except ToolError:
        return None
    if meta is None:
        return None
    folder = paper_dir(ws, meta["id"])
    record = visuals.find_figure(visuals.cached(folder), number)
    return image_path(folder, record) if record else None


def ocr_late(folder: Path, data: PageTexts, page: int) -> PageTexts:
    """A scanned page read before Tesseract was installed is read by OCR now, once, and cached in pages.json."""
    from agent_scientist.papers.pdf import ocr_available, ocr_pdf_page

    if page not in data.get("scanned_pages", []) or page in data.get("ocr_pages", []) or not ocr_available():
        return data
    try:
        text = ocr_pdf_page((folder / "paper.pdf").read_bytes(), page)
    except Exception:  # an unreadable PDF: the page stays unread, the view says so
        return data
    if text is None:
        return data
    pages = list(data["pages"])
    pages[page - 1] = text
    data = data.copy()  # the caller's stays as it was
    data["pages"], data["ocr_pages"] = pages, sorted({*data.get("ocr_pages", []), page})
    atomic_write_json(folder / "pages.json", data)
    return data


def _fetch(ws: Workspace, settings: Settings, pid: str) -> PaperMeta:
    from agent_scientist.papers.arxiv import FetchError, check_pdf_bytes, download_pdf, query_api
    from agent_scientist.papers.pdf import PdfError, extract

    if pid.startswith("local:"):
        known = ", ".join(m["id"] for m in ws.papers() if m.get("source") == "local")[:400] or "none"
        raise ToolError(f"No local paper {pid} in this workspace (local papers: {known}). A person adds PDFs "
                        "with `agent-scientist papers add NAME FILE...`.")
    if ids.kind_of(pid) in ("doi", "s2", "pmid", "pmcid"):
        return _fetch_work(ws, settings, pid)
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
    cached_pdf = paper_dir(ws, vid) / "paper.pdf"
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
    meta = store_paper(ws, paper_meta(vid, "arxiv", entry, scanned=extracted.scanned), data, extracted)
    from agent_scientist.papers.sources import registry

    if any(registry.get(n).resolves for n in source_names(settings.paper_sources)):
        work = _resolve_quietly(ws, settings, vid)
        if work:
            meta = annotate(ws, meta, work)
    return meta


def resolve_work(ws: Workspace, settings: Settings, pid: str) -> dict | None:
    """What the resolving sources in paper_sources (all of them when none is) know of a paper, cached in
    papers/.works/; None if none knows it. Raises FetchError only when every index asked failed."""
    from agent_scientist.papers.fetch import FetchError
    from agent_scientist.papers.sources import registry
    from agent_scientist.papers.sources.works import combine

    asked = [n for n in source_names(settings.paper_sources) if registry.get(n).resolves]
    names = asked or [n for n in registry.names() if registry.get(n).resolves]
    if ids.kind_of(pid) == "pmcid" and "europepmc" not in names:  # only Europe PMC knows PMC ids here
        names.append("europepmc")
    cache = search_cache_path(ws, {"work": ids.match_key(pid), "sources": names}, ".works")
    try:
        return read_json(cache)["work"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    work, errors = None, []
    for source in registry.sources(names):
        try:
            found = source.work(settings, pid, work)
        except FetchError as exc:
            errors.append(exc)
            continue
        if found:
            work = combine(work, found) if work else found
    if work is None and errors and len(errors) == len(names):
        raise errors[0]
    if not errors:  # an answer missing a failed index's part is not kept: the next read asks again
        atomic_write_json(cache, {"work": work, "fetched_at": now_iso()})
    return work


def _resolve_quietly(ws: Workspace, settings: Settings, pid: str) -> dict | None:
    from agent_scientist.papers.fetch import FetchError

    try:
        return resolve_work(ws, settings, pid)
    except FetchError:
        return None


def _fetch_work(ws: Workspace, settings: Settings, pid: str) -> PaperMeta:
    """A DOI, S2 or PMC paper, trying in order: arXiv, the open-access PDFs of Semantic Scholar and OpenAlex,
    Unpaywall's, then Europe PMC's full text; else its abstract. meta["full_text_from"] says which was read."""
    from agent_scientist.papers.fetch import FetchError
    from agent_scientist.papers.sources.works import best_id

    try:
        work = resolve_work(ws, settings, pid)
    except FetchError as exc:
        raise ToolError(f"Could not look up {pid}: {exc}. Papers already cached stay readable{_cached_list(ws)}; "
                        "try again later.") from None
    if work is None:
        raise ToolError(f"No index knows {pid} (asked {settings.paper_sources}). Check the id; search_papers finds ids.")
    if work.get("arxiv_id"):
        arxiv_id = str(work["arxiv_id"])
        meta = find_paper(ws, arxiv_id) or _fetch(ws, settings, ids.base_id(arxiv_id))
        return annotate(ws, meta, {**work, "full_text_from": "arXiv"})
    stored = best_id({**work, "arxiv_id": ""})
    have = find_paper(ws, stored)
    if have:
        return have
    meta = paper_meta(stored, work["sources"][0], work)
    notes: list[str] = []
    for where, url in _pdf_candidates(settings, work, notes):
        stored_meta = _store_pdf(ws, settings, meta, where, url, notes)
        if stored_meta is not None:
            return stored_meta
    stored_meta = _store_europepmc(ws, settings, work, meta, notes)
    if stored_meta is not None:
        return stored_meta
    if notes:
        meta["full_text_note"] = "; ".join(notes)[:600]
    return store_abstract_only(ws, meta)


def _pdf_candidates(settings: Settings, work: dict, notes: list[str]) -> list[tuple[str, str]]:
    """(who, PDF URL) to try, in order, each URL once: Semantic Scholar's and OpenAlex's, then Unpaywall's."""
    from agent_scientist.papers.fetch import FetchError
    from agent_scientist.papers.sources import unpaywall

    out: list[tuple[str, str]] = []
    if work.get("pdf_url"):
        out.append(("/".join(s for s in work.get("sources") or [] if s != "europepmc") or "index",
                    str(work["pdf_url"])))
    if not work.get("doi"):
        return out
    try:
        location = unpaywall.best_location(settings, str(work["doi"]))
    except ValueError as exc:
        notes.append(f"Unpaywall not asked: {exc}")
        return out
    except FetchError as exc:
        notes.append(f"Unpaywall failed: {exc}")
        return out
    if location is None:
        notes.append("Unpaywall knows no open-access copy")
    elif not location.pdf_url:
        notes.append(f"Unpaywall knows only a landing page without a PDF ({location.landing_url}); not downloaded")
    elif all(location.pdf_url != url for _w, url in out):
        out.append(("Unpaywall", location.pdf_url))
    return out


def _store_pdf(ws: Workspace, settings: Settings, meta: PaperMeta, where: str, url: str,
               notes: list[str]) -> PaperMeta | None:
    """Download and store one open-access PDF; None (with a note) when it is not a readable PDF."""
    from agent_scientist.papers.arxiv import check_pdf_bytes
    from agent_scientist.papers.fetch import FetchError, http_get
    from agent_scientist.papers.pdf import PdfError, extract

    try:
        data = http_get(url, timeout=settings.http_timeout, max_bytes=int(settings.pdf_max_mb * 1e6),
                        what=f"the open-access PDF of {meta['id']}")
        if data[:1024].lstrip()[:1] == b"<":
            notes.append(f"{url} ({where}) is a landing page (HTML), not a PDF; not stored")
            return None
        check_pdf_bytes(data, url)
        extracted = extract(data, settings.pdf_max_pages)
    except FetchError as exc:
        if exc.kind == "offline":
            raise ToolError(f"Could not download the open-access PDF of {meta['id']}: {exc}. Nothing was saved; "
                            "try again later.") from None
        notes.append(f"the open-access PDF from {where} could not be used ({exc})")
        return None
    except PdfError as exc:
        notes.append(f"the open-access PDF from {where} cannot be read ({exc})")
        return None
    return store_paper(ws, {**meta, "pdf_url": url, "scanned": extracted.scanned,
                            "full_text_from": f"open-access PDF via {where} ({url})"}, data, extracted)


def _store_europepmc(ws: Workspace, settings: Settings, work: dict, meta: PaperMeta,
                     notes: list[str]) -> PaperMeta | None:
    """Europe PMC's JATS full text, paged, stored under the paper's PMCID (the pages are that text's own)."""
    from agent_scientist.papers.fetch import FetchError
    from agent_scientist.papers.jats import JatsError, parse
    from agent_scientist.papers.sources import europepmc

    found = work
    try:
        if not work.get("pmcid"):
            found = europepmc.SOURCE.work(settings, meta["id"], work) or {}
        if not found.get("pmcid"):
            notes.append("Europe PMC has no PMC full text")
            return None
        text = europepmc.full_text_xml(settings, str(found["pmcid"]))
        paged = parse(text.data, settings.pdf_max_pages)
    except FetchError as exc:
        notes.append("Europe PMC has no open-access full text" if exc.kind == "not_found"
                     else f"Europe PMC full text failed ({exc})")
        return None
    except JatsError as exc:
        notes.append(f"Europe PMC's full text cannot be read ({exc})")
        return None
    pmc = f"pmcid:{found['pmcid']}"
    have = find_paper(ws, pmc)
    if have:
        return have
    stored: PaperMeta = {**meta, "id": pmc, "full_text_from": f"Europe PMC full text ({text.url})"}
    for k in ("pmcid", "pmid", "doi"):
        if found.get(k):
            stored[k] = found[k]
    return store_paper(ws, stored,
                       text.data, paged, file="paper.xml")


def _cached_list(ws: Workspace, limit: int = 8) -> str:
    """`: id, id, ... (N more)` of the papers readable without network, or "" when there are none."""
    ids = [m["id"] for m in ws.papers() if (paper_dir(ws, m["id"]) / "pages.json").is_file()]
    if not ids:
        return " (none in this workspace yet)"
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ": " + ", ".join(ids[:limit]) + more


