"""The text views of a paper the model sees: overview, one page, best passages; each bounded."""

from __future__ import annotations

import logging
from typing import Any

from agent_scientist.contracts import ToolError
from agent_scientist.papers.ids import citation_label
from agent_scientist.papers.lexical import bm25, tokens
from agent_scientist.papers.store import chunk_pages
from agent_scientist.untrusted import escape, mark, mark_inline

PASSAGES = 4
log = logging.getLogger(__name__)


def _header(meta: dict, what: str) -> str:
    return f"[{citation_label(meta['id'])} {what}]"


def overview(meta: dict, data: dict, limit: int) -> str:
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
                                                       ("DOI", "doi")) if meta.get(key) not in (None, "")]
    if facts:
        lines.append(" | ".join(facts))
    if meta.get("retracted"):
        lines.insert(1, "RETRACTED: do not rely on it (OpenAlex marks this paper retracted).")
    if meta.get("full_text_from"):
        lines.append(f"Full text read from: {meta['full_text_from']}")
    if meta.get("full_text") is False:
        tried = f"Only the abstract exists ({escape(meta['full_text_note'])}). " if meta.get("full_text_note") else ""
        lines.append(tried + "No full text: no open-access PDF was found, so its pages cannot be read or cited; cite the "
                     f"paper as a whole, [{citation_label(meta['id'])}]. A person who has the PDF can add it with "
                     "`agent-scientist papers add NAME FILE`.")
    if meta.get("tldr"):
        lines.append(f"TLDR: {mark_inline(meta['tldr'][:400])}")
    if meta.get("scanned"):
        lines.append("This PDF is a scanned image without a text layer: its pages cannot be read (no OCR). "
                     "Rely on the abstract and metadata.")
    if meta.get("abstract"):
        abstract = meta["abstract"]
        room = max(300, min(2000, limit // 3))
        lines.append(f"Abstract: {mark_inline(abstract[:room])}" + (" …" if len(abstract) > room else ""))
    tail = (f"Read a page: read_paper('{meta['id']}', page=N) (1-{pages}); find passages: "
            f"read_paper('{meta['id']}', query='...'). Cite as [{citation_label(meta['id'])} p.N]."
            if pages else f"Cite as [{citation_label(meta['id'])}] (no pages). "
            f"Related work: paper_graph('{meta['id']}').")
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
        lines.append(f"{title}:\n" + mark("  " + "\n  ".join(kept), citation_label(meta["id"])) + more)
    body = "\n".join(lines)
    return body[: max(0, limit - len(tail) - 1)] + "\n" + tail


def page_view(meta: dict, data: dict, page: int, limit: int) -> str:
    pages = data.get("pages", [])
    if meta.get("full_text") is False:
        raise ToolError(f"{citation_label(meta['id'])} has no full text in this workspace (no open-access PDF): "
                        "its pages cannot be read; page=0 gives the abstract and metadata.")
    if not 1 <= page <= len(pages):
        raise ToolError(f"Page {page} is out of range: {citation_label(meta['id'])} has {len(pages)} pages "
                        f"(1-{len(pages)}); page=0 gives the overview.")
    text = pages[page - 1]
    if page in data.get("scanned_pages", []) or not text.strip():
        text = "(This page has no text layer: it is a scanned image or a figure; no OCR is available.)"
    sections = data.get("sections") or []
    section = f" §{str(sections[page - 1])[:80]}" if len(sections) >= page and sections[page - 1] else ""
    header = _header(meta, f"p.{page}/{len(pages)}{escape(section)}")
    where = f"{citation_label(meta['id'])} p.{page}"
    if len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0]
        return (f"{header}\n{mark(cut, where)}\n[... page {page} continues for {len(text) - len(cut)} more characters; "
                f"read_paper('{meta['id']}', query='words from the rest') finds them"
                + (f"; next page: page={page + 1}]" if page < len(pages) else "]"))
    more = f"next: read_paper('{meta['id']}', page={page + 1})" if page < len(pages) else "last page"
    return f"{header}\n{mark(text, where)}\n[{more}]"


def passages_view(meta: dict, data: dict, query: str, memory: Any, limit: int) -> str:
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

