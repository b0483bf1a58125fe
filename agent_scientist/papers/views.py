"""The text views of a paper the model sees: overview, one page, best passages; each bounded."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypeVar

from agent_scientist.contracts import ToolError
from agent_scientist.papers.ids import citation_label
from agent_scientist.papers.lexical import bm25, tokens
from agent_scientist.papers.pdf import OCR_FIX
from agent_scientist.papers.store import chunk_pages
from agent_scientist.records import FigureRecord, PageTexts, TableRecord, Visuals
from agent_scientist.untrusted import escape, mark, mark_inline

PASSAGES = 4
log = logging.getLogger(__name__)


def _header(meta: Mapping[str, Any], what: str) -> str:
    return f"[{citation_label(meta['id'])} {what}]"


def _numbers(pages: list[int]) -> str:
    return ", ".join(str(n) for n in pages[:40]) + (f" and {len(pages) - 40} more" if len(pages) > 40 else "")


def _span(pages: list[int]) -> str:
    return str(pages[0]) if len(pages) == 1 else f"{pages[0]}-{pages[-1]}"


def overview(meta: Mapping[str, Any], data: PageTexts, limit: int, visuals: Visuals | None = None) -> str:
    """The abstract, outline and what the paper shows (tables and figures once extracted, else its captions)."""
    pages = len(data.get("pages", []))
    authors = meta.get("authors") or []
    shown = ", ".join(authors[:8]) + (f" et al. ({len(authors)} authors)" if len(authors) > 8 else "")
    lines = [f"{_header(meta, 'overview')} {escape(meta.get('title', ''))}",
             f"Authors: {escape(shown) or 'unknown'}",
             f"Date: {meta.get('published') or meta.get('year') or 'unknown'} | Pages: {pages}"
             + (f" (first {pages} of {meta['total_pages']}; raise AGENT_SCIENTIST_PDF_MAX_PAGES)"
                if meta.get("total_pages") else "")
             + (f" | Categories: {', '.join(meta['categories'])}" if meta.get("categories") else "")]
    dated = str(meta.get("published") or meta.get("year") or "")
    year = () if dated.startswith(str(meta.get("year") or "")) else (("Year", "year"),)  # one date line
    facts = [f"{name}: {meta[key]}" for name, key in (("Venue", "venue"), *year,
                                                       ("Citations", "citation_count"), ("Type", "publication_type"),
                                                       ("arXiv", "arxiv_id"), ("DOI", "doi"), ("PMID", "pmid"),
                                                       ("PMCID", "pmcid"))
             if meta.get(key) not in (None, "")]
    if facts:
        lines.append(" | ".join(facts))
    if meta.get("publication_types"):
        lines.append(f"Publication types: {', '.join(meta['publication_types'][:8])}")
    if meta.get("mesh"):
        lines.append(f"MeSH: {escape(', '.join(meta['mesh'][:15]))}")
    if meta.get("notices"):
        lines.insert(1, f"Notices: {escape('; '.join(meta['notices'][:5]))}")
    if meta.get("retracted"):
        lines.insert(1, "RETRACTED: do not rely on it (the index marks this paper retracted).")
    if meta.get("full_text_from"):
        lines.append(f"Full text read from: {meta['full_text_from']}")
    if meta.get("full_text") is False:
        tried = f"Only the abstract exists ({escape(meta['full_text_note'])}). " if meta.get("full_text_note") else ""
        lines.append(tried + "No full text: no open-access PDF was found, so its pages cannot be read or cited; cite the "
                     f"paper as a whole, [{citation_label(meta['id'])}]. A person who has the PDF can add it with "
                     "`agent-scientist papers add NAME FILE`.")
    if meta.get("tldr"):
        lines.append(f"TLDR: {mark_inline(meta['tldr'][:400])}")
    scanned = [n for n in data.get("scanned_pages", []) if n not in data.get("ocr_pages", [])]
    if data.get("ocr_pages"):
        lines.append(f"Scanned pages read by OCR (text may hold recognition errors): {_numbers(data['ocr_pages'])}.")
    if scanned or (meta.get("scanned") and not data.get("ocr_pages")):
        lines.append("Scanned pages without a text layer, unreadable here: "
                     f"{'all' if len(scanned) == pages or not scanned else _numbers(scanned)}. Fix: {OCR_FIX}."
                     + (" Until then rely on the abstract and metadata." if meta.get("scanned") else ""))
    if meta.get("abstract"):
        abstract = meta["abstract"]
        room = max(300, min(2000, limit // 3))
        lines.append(f"Abstract: {mark_inline(abstract[:room])}" + (" …" if len(abstract) > room else ""))
    tail = (f"Read a page: read_paper('{meta['id']}', page=N) (1-{pages}); find passages: "
            f"read_paper('{meta['id']}', query='...'). Cite as [{citation_label(meta['id'])} p.N]."
            if pages else f"Cite as [{citation_label(meta['id'])}] (no pages). "
            f"Related work: paper_graph('{meta['id']}').")
    budget = limit - sum(len(x) + 1 for x in lines) - len(tail) - 80
    found = [f"Table {t['number']} (p.{_span(t['pages'])}): {t['caption'][:120]}"
             for t in (visuals["tables"] if visuals else [])]
    found += [f"Figure {f['number']} (p.{f['page']}): {f['caption'][:120]}"
              for f in (visuals["figures"] if visuals else [])]
    if visuals is not None and found:
        tail = (f"Read a table: read_paper('{meta['id']}', table=N); a figure: read_paper('{meta['id']}', figure=N). "
                + tail)
    listed = ("Tables and figures", found) if visuals is not None and found else \
        ("Figures and tables", [f"p.{c['page']}: {c['text'][:200]}" for c in data.get("captions", [])])
    sections = [("Outline", [f"{'  ' * (max(1, o.get('level', 1)) - 1)}{o['title']} (p.{o['page']})"
                             for o in data.get("outline", [])]), listed]
    for title, items in sections:
        if not items:
            continue
        kept: list[str] = []
        share = budget // 2 if title == "Outline" and (data.get("captions") or found) else budget
        for item in items:
            if sum(len(k) + 3 for k in kept) + len(item) > share:
                break
            kept.append(item)
        budget -= sum(len(k) + 3 for k in kept)
        more = f"\n  ... {len(items) - len(kept)} more (read the pages)" if len(kept) < len(items) else ""
        lines.append(f"{title}:\n" + mark("  " + "\n  ".join(kept), citation_label(meta["id"])) + more)
    body = "\n".join(lines)
    return body[: max(0, limit - len(tail) - 1)] + "\n" + tail


def page_view(meta: Mapping[str, Any], data: PageTexts, page: int, limit: int, visuals: Visuals | None = None) -> str:
    """One page, its header marking OCR text, and the tables and figures on it (when already extracted)."""
    pages = data.get("pages", [])
    if meta.get("full_text") is False:
        raise ToolError(f"{citation_label(meta['id'])} has no full text in this workspace (no open-access PDF): "
                        "its pages cannot be read; page=0 gives the abstract and metadata.")
    if not 1 <= page <= len(pages):
        raise ToolError(f"Page {page} is out of range: {citation_label(meta['id'])} has {len(pages)} pages "
                        f"(1-{len(pages)}); page=0 gives the overview.")
    text = pages[page - 1]
    ocr = page in data.get("ocr_pages", [])
    if (page in data.get("scanned_pages", []) and not ocr) or not text.strip():
        text = ("(This page has no text layer: it is a scanned image or a figure; no OCR is available. "
                f"Fix: {OCR_FIX}.)")
    sections = data.get("sections") or []
    section = f" §{str(sections[page - 1])[:80]}" if len(sections) >= page and sections[page - 1] else ""
    header = _header(meta, f"p.{page}/{len(pages)}{escape(section)}") + (" (OCR text of a scanned page)" if ocr else "")
    shown = [f"Table {t['number']}" for t in (visuals["tables"] if visuals else []) if page in t["pages"]]
    shown += [f"Figure {f['number']}" for f in (visuals["figures"] if visuals else []) if page == f["page"]]
    if shown:
        header += f"\n[on this page: {', '.join(shown)}; read one with table=N or figure=N]"
    where = f"{citation_label(meta['id'])} p.{page}"
    if len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0]
        return (f"{header}\n{mark(cut, where)}\n[... page {page} continues for {len(text) - len(cut)} more characters; "
                f"read_paper('{meta['id']}', query='words from the rest') finds them"
                + (f"; next page: page={page + 1}]" if page < len(pages) else "]"))
    more = f"next: read_paper('{meta['id']}', page={page + 1})" if page < len(pages) else "last page"
    return f"{header}\n{mark(text, where)}\n[{more}]"


def passages_view(meta: Mapping[str, Any], data: PageTexts, query: str, memory: Any, limit: int) -> str:
    hits: list[dict] = []
    failed = ""
    if memory is not None:
        try:
            hits = [h for h in memory.search_passages(query, PASSAGES, meta["id"]) if h.get("text")]
        except Exception as exc:  # the words' ranking answers instead; the log keeps the traceback
            log.warning("memory passage search for %s failed", meta["id"], exc_info=True)
            failed = f"[note: the memory search failed ({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); " \
                     "passages ranked by words instead]"
    if not hits:
        chunks = chunk_pages(data.get("pages", []))
        scores = bm25(tokens(query), [c["text"] for c in chunks])
        ranked = sorted(((s, i) for i, s in enumerate(scores) if s > 0), reverse=True)[:PASSAGES]
        hits = [{**chunks[i], "score": round(s, 3)} for s, i in ranked]
    label = citation_label(meta["id"])
    if not hits:
        return (f"[{label} passages for {query!r}] No passage matches. Try other words, or see the outline "
                f"with read_paper('{meta['id']}')." + (f"\n{failed}" if failed else ""))
    per = max(300, limit // len(hits) - 80)
    parts = []
    for n, hit in enumerate(hits, start=1):
        start, end = hit.get("page_start"), hit.get("page_end")
        where = f"p.{start}" if start == end else f"p.{start}-{end}"
        text = " ".join(str(hit["text"]).split())
        parts.append(f"({n}) {where}: {text[:per]}{' …' if len(text) > per else ''}")
    found = "\n".join(parts)
    return (f"[{label} passages for {query!r}]\n{mark(found, label)}\n"
            f"Cite as [{label} p.N]; whole page: read_paper('{meta['id']}', page=N)." + (f"\n{failed}" if failed else ""))



def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|")


def grid_rows(table: TableRecord) -> list[str]:
    """A table as markdown rows: the header row, its rule, the other rows; a spanning cell is shown once."""
    rows = table["rows"]
    if not rows:
        return []
    width = max(len(r) for r in rows)
    lines = ["| " + " | ".join(_cell(c) for c in (r + [""] * (width - len(r)))) + " |" for r in rows]
    return [lines[0], "|" + "---|" * width, *lines[1:]]


def table_view(meta: Mapping[str, Any], visuals: Visuals, number: int, part: int, limit: int) -> str:
    """Table N as a markdown grid with its caption, pages and size; a long table in parts (part 1, 2, ...)."""
    table = _find(meta, visuals, visuals["tables"], "table", number)
    lines = grid_rows(table)
    rows = table["rows"]
    head = (f"{_header(meta, f'Table {number}')} p.{_span(table['pages'])}, {len(rows)} rows x "
            f"{max((len(r) for r in rows), default=0)} columns\n{table['caption']}")
    keep = lines[:2 + table["header_rows"] - 1]  # the header rows repeat on every part
    body = lines[len(keep):]
    room = max(200, limit - len(head) - sum(len(x) + 1 for x in keep) - 200)
    parts: list[list[str]] = [[]]
    for line in body:
        if parts[-1] and sum(len(x) + 1 for x in parts[-1]) + len(line) > room:
            parts.append([])
        parts[-1].append(line)
    part = max(1, part)
    if part > len(parts):
        raise ToolError(f"Table {number} of {citation_label(meta['id'])} has {len(parts)} part(s); part {part} "
                        "is past its end.")
    chosen = parts[part - 1]
    first = sum(len(p) for p in parts[:part - 1]) + 1
    more = (f"[rows {first}-{first + len(chosen) - 1} of {len(body)}; next part: read_paper('{meta['id']}', "
            f"table={number}, page={part + 1})]" if part < len(parts) else "")
    cite = f"[Cite as [{citation_label(meta['id'])} tab.{number}].]"
    framed = mark("\n".join([table["caption"], *keep, *chosen]), f"{citation_label(meta['id'])} Table {number}")
    return "\n".join([head.split("\n")[0], framed] + ([more] if more else []) + [cite])


def figure_view(meta: Mapping[str, Any], visuals: Visuals, number: int, image_path: str, seen: str, limit: int) -> str:
    """Figure N: caption, page, the text inside it, the image file, and what the model can see of it (`seen`)."""
    figure = _find(meta, visuals, visuals["figures"], "figure", number)
    where = f"p.{figure['page']}" + (f" (caption on p.{figure['caption_page']})"
                                     if figure.get("caption_page") != figure["page"] else "")
    inside = mark(f"Caption: {figure['caption'][:1000]}\nText inside the figure: {(figure.get('text') or '(none)')[:2000]}",
                  f"{citation_label(meta['id'])} Figure {number}")
    lines = [f"{_header(meta, f'Figure {number}')} {where}, {figure.get('kind', '')} figure", inside,
             f"Image file: {image_path}" if image_path else "Image file: (not rendered)",
             seen, f"Cite as [{citation_label(meta['id'])} fig.{number}]."]
    return "\n".join(lines)


_Item = TypeVar("_Item", TableRecord, FigureRecord)


def _find(meta: Mapping[str, Any], visuals: Visuals, items: list[_Item], kind: str, number: int) -> _Item:
    for item in items:
        if item["number"] == number:
            return item
    have = ", ".join(str(i["number"]) for i in items) or "none"
    why = f" (extraction failed: {visuals['error']})" if visuals.get("error") else ""
    raise ToolError(f"{citation_label(meta['id'])} has no {kind} {number}{why}; its {kind}s: {have}. "
                    f"read_paper('{meta['id']}') lists them.")
