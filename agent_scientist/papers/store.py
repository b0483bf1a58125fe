"""The workspace's paper library on disk: ids, cached metadata and pages, local PDF ingestion, ranking.

Layout per paper (contract in the workspace docs): papers/<key>/meta.json, paper.pdf, pages.json.
meta.json is written last, so a paper is in the library only once its pages are cached.
Search answers are cached in papers/.search/<hash>.json so a repeated search needs no network.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from agent_scientist.config import Settings
from agent_scientist.contracts import ToolError
from agent_scientist.fsio import atomic_write_bytes, atomic_write_json, read_json
from agent_scientist.papers import ids
from agent_scientist.papers.ids import base_id, version_of
from agent_scientist.papers.layout import paper_dir, read_pages
from agent_scientist.papers.lexical import tokens
from agent_scientist.records import Chunk, PageTexts, PaperMeta
from agent_scientist.workspace import Workspace, now_iso

if TYPE_CHECKING:  # pymupdf and the XML parser load only where a paper is extracted
    from agent_scientist.papers.jats import Paged
    from agent_scientist.papers.pdf import Extracted

CHUNK_CHARS = 1200


def parse_paper_id(text: str) -> str:
    """The stored form of an id (see papers/ids.py), or a ToolError the model can act on."""
    try:
        return ids.parse_paper_id(text)
    except ids.PaperIdError as exc:
        raise ToolError(str(exc)) from None


# -- the cache ---------------------------------------------------------------
def find_paper(ws: Workspace, paper_id: str) -> PaperMeta | None:
    """Metadata of a cached paper (complete: meta.json and pages.json), resolving ids without version
    and ids recorded on another paper (the DOI of an arXiv paper, the arXiv id of a DOI paper)."""
    pid = parse_paper_id(paper_id)
    kind = ids.kind_of(pid)
    if kind != "arxiv" or version_of(pid):
        folder = paper_dir(ws, pid)
        if (folder / "meta.json").is_file() and (folder / "pages.json").is_file():
            try:
                return cast(PaperMeta, read_json(folder / "meta.json"))  # JSON from disk
            except (OSError, ValueError):
                return None
    complete = [m for m in ws.papers() if (paper_dir(ws, m["id"]) / "pages.json").is_file()]
    if kind == "arxiv" and not version_of(pid):
        matches = [m for m in complete if base_id(str(m["id"])) == pid]
        if matches:
            return max(matches, key=lambda m: version_of(m["id"]))
    def same(alias: str) -> bool:  # an arXiv version asked for is that version
        return alias == pid if version_of(pid) else ids.match_key(alias) == ids.match_key(pid)

    readable_first = sorted(complete, key=lambda m: not m.get("pages"))  # a PDF added for an abstract-only paper
    return next((m for m in readable_first if any(same(a) for a in ids.aliases(m))), None)


def load_pages(ws: Workspace, paper_id: str) -> PageTexts:
    """pages.json of a cached paper (store_paper wrote it)."""
    meta = find_paper(ws, paper_id)
    if meta is None:
        raise ToolError(f"{paper_id} is not in this workspace yet; read_paper('{paper_id}') fetches it.")
    try:
        return read_pages(paper_dir(ws, meta["id"]))
    except (OSError, ValueError) as exc:
        raise ToolError(f"The cached text of {paper_id} is unreadable ({exc}); delete "
                        f"{paper_dir(ws, meta['id'])} and read it again.") from None


OPTIONAL_META = ("comment", "doi", "arxiv_id", "s2_id", "openalex_id", "venue", "citation_count",
                 "publication_type", "retracted", "tldr", "pmid", "pmcid",
                 "publication_types", "mesh", "notices", "references_deposited", "open_access", "original_path", "scanned",
                 "full_text", "full_text_from")


def paper_meta(paper_id: str, source: str, entry: Mapping[str, Any], **extra: Any) -> PaperMeta:
    """The one shape of a paper's meta.json (store_paper adds file, pages, sha256, added_at)."""
    meta: dict[str, Any] = {"id": paper_id, "source": source, "title": entry.get("title") or "",
            "authors": list(entry.get("authors") or []), "published": entry.get("published") or "",
            "year": entry.get("year"), "categories": list(entry.get("categories") or []),
            "primary_category": entry.get("primary_category") or "", "abstract": entry.get("abstract") or "",
            "pdf_url": entry.get("pdf_url") or "", "abs_url": entry.get("abs_url") or ""}
    for key, value in [*((k, entry.get(k)) for k in OPTIONAL_META), *extra.items()]:
        if value not in (None, "", [], False) or (key == "full_text" and value is False):
            meta[key] = value
    return cast(PaperMeta, meta)  # keys: PaperMeta's (OPTIONAL_META and the extras callers pass)


def store_paper(ws: Workspace, meta: PaperMeta, pdf: bytes, extracted: Extracted | Paged,
                file: str = "paper.pdf") -> PaperMeta:
    """Write the file (paper.pdf, or paper.xml for a JATS full text), pages.json (with the section of each page
    where the text has sections), then meta.json (last: its presence means the paper is complete)."""
    folder = paper_dir(ws, meta["id"])
    atomic_write_bytes(folder / file, pdf)
    pages = PageTexts(pages=extracted.pages, outline=extracted.outline, captions=extracted.captions,
                      scanned_pages=extracted.scanned_pages, ocr_pages=getattr(extracted, "ocr_pages", []))
    sections, references = getattr(extracted, "sections", None), getattr(extracted, "references", None)  # JATS
    if sections:
        pages["sections"] = sections
    if references:
        pages["references"] = references
    atomic_write_json(folder / "pages.json", pages)
    meta = {**meta, "file": file, "pages": len(extracted.pages), "added_at": now_iso(),
            "sha256": hashlib.sha256(pdf).hexdigest()}
    if extracted.total_pages > len(extracted.pages):
        meta["total_pages"] = extracted.total_pages
    atomic_write_json(folder / "meta.json", meta)
    return meta


def search_cache_path(ws: Workspace, params: dict, folder: str = ".search") -> Path:
    """Where the answer to one exact API request is kept (the endpoint is part of the key); graph pages
    go to papers/.graph/, paper metadata from the indexes to papers/.works/."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:24]
    return ws.papers_dir / folder / f"{digest}.json"


WORK_META = ("doi", "arxiv_id", "s2_id", "openalex_id", "venue", "citation_count", "publication_type",
             "retracted", "tldr", "pmcid", "pmid")


def annotate(ws: Workspace, meta: PaperMeta, work: Mapping[str, Any]) -> PaperMeta:
    """Record what the indexes know (DOI, venue, citations, retraction...) on a cached paper's meta.json, so
    the same paper reached by its arXiv id and by its DOI is one paper."""
    extra = {k: work[k] for k in WORK_META if work.get(k) not in (None, "", False) and meta.get(k) != work[k]}
    notices = list(meta.get("notices") or [])  # a union: what one index said is never dropped by another's answer
    notices += [n for n in work.get("notices") or [] if n not in notices]
    if notices != list(meta.get("notices") or []):
        extra["notices"] = notices
    if ids.kind_of(meta["id"]) == "arxiv":
        extra.pop("arxiv_id", None)
    if not extra:
        return meta
    meta = cast(PaperMeta, {**meta, **extra})  # extra: WORK_META keys and notices
    atomic_write_json(paper_dir(ws, meta["id"]) / "meta.json", meta)
    return meta


def store_abstract_only(ws: Workspace, meta: PaperMeta) -> PaperMeta:
    """A paper whose full text is nowhere to be had: its metadata and abstract, no pages (none can be cited)."""
    folder = paper_dir(ws, meta["id"])
    atomic_write_json(folder / "pages.json", {"pages": [], "outline": [], "captions": [], "scanned_pages": []})
    meta = {**meta, "pages": 0, "full_text": False, "added_at": now_iso()}
    atomic_write_json(folder / "meta.json", meta)
    return meta


def cached_entry(ws: Workspace, paper_id: str) -> dict | None:
    """arXiv metadata for an id seen in an earlier search answer (saves an API call before a download)."""
    folder = ws.papers_dir / ".search"
    if not folder.is_dir():
        return None
    versioned = bool(version_of(paper_id))
    best = None
    for path in folder.glob("*.json"):
        try:
            entries = read_json(path).get("entries", [])
        except (OSError, ValueError, AttributeError):
            continue
        for entry in entries:
            eid = str(entry.get("id", ""))
            if eid == paper_id or (not versioned and base_id(eid) == paper_id):
                if best is None or version_of(eid) > version_of(best["id"]):
                    best = entry
    return best


# -- passages and lexical ranking ----------------------------------------------
def chunk_pages(pages: list[str], size: int = CHUNK_CHARS) -> list[Chunk]:
    """Paragraph-aligned chunks of about `size` characters, each with the pages it spans."""
    chunks: list[Chunk] = []
    text, start, end = "", 0, 0
    for number, page in enumerate(pages, start=1):
        for para in page.split("\n\n"):
            para = para.strip()
            if not para:
                continue
            if text and len(text) + len(para) > size:
                chunks.append({"text": text, "page_start": start, "page_end": end})
                text = ""
            if not text:
                start = number
            text = f"{text}\n\n{para}" if text else para
            end = number
            while len(text) > 2 * size:
                chunks.append({"text": text[:size], "page_start": start, "page_end": end})
                text, start = text[size:], end
    if text:
        chunks.append({"text": text, "page_start": start, "page_end": end})
    return chunks


def query_terms(query: str) -> list[str]:
    """Words of an arXiv-syntax query without field prefixes, operators or date ranges."""
    query = re.sub(r"submittedDate:\[[^\]]*\]", " ", query)
    query = re.sub(r"\b(AND|OR|ANDNOT)\b", " ", query)
    query = re.sub(r"\b(ti|au|abs|cat|all|co|jr|rn|id):", " ", query)
    return tokens(query)


# -- local PDFs -------------------------------------------------------------------
def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        path = Path(path).expanduser()
        out.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file())
                   if path.is_dir() else [path])
    return out


def ingest_pdfs(ws: Workspace, settings: Settings, paths: list[Path], memory: Any = None,
                on_file: Any = None) -> list[dict]:
    """Add the user's PDFs (files or folders of them) as local papers; `on_file(done, total)` after each.

    Returns one dict per file: the meta of each paper added; {"original_path", "skipped", "id"} for a
    file already in the workspace (same content hash); {"original_path", "error"} for a file that
    cannot be used. A bad file never stops the others.
    """
    from agent_scientist.papers.pdf import PdfError, extract

    known = {m.get("sha256"): m["id"] for m in ws.papers() if m.get("sha256") and m.get("source") == "local"}
    results: list[dict] = []
    cap = int(settings.pdf_max_mb * 1_000_000)
    expanded = _expand(paths)
    for done, path in enumerate(expanded):
        if on_file is not None and done:
            on_file(done, len(expanded))
        where = str(path)
        try:
            if not path.is_file():
                raise ToolError("no such file")
            if path.stat().st_size > cap:
                raise ToolError(f"{path.stat().st_size / 1e6:.1f} MB is over the {settings.pdf_max_mb:g} MB "
                                "cap (AGENT_SCIENTIST_PDF_MAX_MB)")
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in known:
                results.append({"original_path": where, "id": known[digest],
                                "skipped": f"already in the workspace as {known[digest]}"})
                continue
            extracted = extract(data, settings.pdf_max_pages)
            same = find_paper(ws, extracted.arxiv_id) if extracted.arxiv_id else None
            if same is not None and same.get("pages"):  # the arXiv paper it prints is here, with its pages: one paper
                results.append({"original_path": where, "id": same["id"],
                                "skipped": f"it is arXiv:{extracted.arxiv_id}, already in the workspace as {same['id']}"})
                known[digest] = same["id"]
                continue
            pid = next(f"local:{digest[:n]}" for n in (8, 12, 16, 64)
                       if not paper_dir(ws, f"local:{digest[:n]}").exists())
            meta = paper_meta(pid, "local", {"title": extracted.title or path.stem.replace("_", " "),
                                             "authors": extracted.authors, "year": extracted.year,
                                             "abstract": extracted.abstract,
                                             "doi": extracted.doi},
                              original_path=str(path.resolve()), scanned=extracted.scanned)
            note = ""
            if extracted.arxiv_id:
                meta, note = _link_arxiv(settings, meta, extracted.arxiv_id)
            meta = store_paper(ws, meta, data, extracted)
            known[digest] = pid
            row: dict[str, Any] = {**meta, **({"note": note} if note else {})}
            warning = add_passages(memory, pid, extracted.pages)
            results.append({**row, "warning": warning} if warning else row)
        except (OSError, PdfError, ToolError) as exc:
            results.append({"original_path": where, "error": f"{where}: {exc}"})
    if on_file is not None and expanded:
        on_file(len(expanded), len(expanded))
    return results


def _link_arxiv(settings: Settings, meta: PaperMeta, printed: str) -> tuple[PaperMeta, str]:
    """A local PDF that prints its arXiv id is that paper: one paper, its local id with the arXiv id recorded as an
    alias (find_paper, citations, search and the graph resolve either), and arXiv's metadata when it answers.
    Returns the local meta and a note."""
    from agent_scientist.papers.arxiv import FetchError, query_api

    try:
        aid = parse_paper_id(printed)
    except ToolError:
        return meta, ""
    meta = {**meta, "arxiv_id": aid}
    note = f"linked to arXiv:{aid}"
    entry: dict = {}
    try:
        entries, _ = query_api(settings, id_list=(aid,), max_results=1)
        entry = entries[0] if entries and entries[0].get("title") else {}
    except FetchError as exc:
        note += f" (arXiv unreachable, metadata from the PDF: {str(exc).rstrip('.')})"  # whole, never cut
    if entry:
        for key in ("title", "authors", "published", "year", "categories", "primary_category", "abstract",
                    "pdf_url", "abs_url"):
            if entry.get(key):
                meta[key] = entry[key]
        note += " (metadata from arXiv)"
    return meta, note


def add_passages(memory: Any, paper_id: str, pages: list[str]) -> str:
    """Chunk a paper into the workspace memory once (in the background where the memory can);
    returns a warning, or "" when fine or no memory."""
    if memory is None:
        return ""
    try:
        if not memory.has_passages(paper_id):
            chunks = chunk_pages(pages)
            if chunks and hasattr(memory, "add_passages_later"):
                memory.add_passages_later(paper_id, chunks)
            elif chunks:
                memory.add_passages(paper_id, chunks)
    except Exception as exc:  # memory is optional: reading must work without it
        return f"memory unavailable for passages ({str(exc)[:100]})"
    return ""
