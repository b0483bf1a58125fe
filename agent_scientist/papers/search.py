"""Searching: every source asked (papers/sources/registry.py; each request cached in the workspace), merged
and de-duplicated, plus the papers already in the workspace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent_scientist.config import Settings
from agent_scientist.contracts import ToolError
from agent_scientist.fsio import atomic_write_json, read_json
from agent_scientist.papers import ids
from agent_scientist.papers.layout import paper_dir, read_pages
from agent_scientist.papers.lexical import bm25
from agent_scientist.papers.sources import registry
from agent_scientist.papers.sources.base import Query, Source, check_dates, compact_date
from agent_scientist.papers.sources.works import merge
from agent_scientist.papers.store import (
    query_terms,
    search_cache_path,
)
from agent_scientist.workspace import Workspace, now_iso

MAX_RESULTS = 50
WORKSPACE_HITS = 3
ABSTRACT_CHARS = 600
ABSTRACTS_BUDGET = 12_000  # characters of abstracts in one answer: many results get shorter abstracts
AUTHORS_SHOWN = 5
SORTS = {"relevance": "relevance", "citations": "citations", "citationcount": "citations", "submitted": "submitted", "submitteddate": "submitted", "date": "submitted",
         "updated": "updated", "lastupdateddate": "updated"}



def _whole(value: Any, name: str) -> int:
    """An int argument the model may have passed as text; a clear error instead of a traceback."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ToolError(f"{name}={value!r} is not a whole number, e.g. {name}=10.") from None


def search(ws: Workspace, settings: Settings, query: str, max_results: int = 10, sort_by: str = "relevance",
           start_date: str = "", end_date: str = "", offset: int = 0, source: str = "") -> list[dict]:
    """Results of every asked source (each cached per request in the workspace), merged and de-duplicated,
    preceded at offset 0 by matching workspace papers; a failed source is said at the end, not raised."""
    from agent_scientist.papers.fetch import FetchError

    query = " ".join(str(query or "").split())
    if not query:
        raise ToolError("Empty query: give words, or fields like ti:transformer AND cat:cs.LG.")
    sort = SORTS.get(str(sort_by or "relevance").strip().lower().replace("_", ""))
    if sort is None:
        raise ToolError(f"sort_by={sort_by!r} is unknown: use 'relevance', 'citations', 'submitted' or 'updated'.")
    size = max(1, min(_whole(max_results or 10, "max_results"), MAX_RESULTS))
    offset = max(0, _whole(offset or 0, "offset"))
    sources = registry.sources(source_names(source or settings.paper_sources))
    check_dates(start_date, end_date)
    request = Query(query, size, offset, sort, start_date, end_date)
    local = workspace_hits(ws, query, start_date, end_date) if offset == 0 else []
    ranked, totals, failures = [], {}, []
    for one, outcome in zip(sources, _ask_all(ws, settings, sources, request), strict=True):
        if isinstance(outcome, FetchError):
            if len(sources) == 1:
                seen = "; ".join(f"{h['id']} ({h['title'][:60]})" for h in local)
                raise ToolError(f"{one.title} search failed: {outcome}. Retry later"
                                + (f"; papers already in the workspace that match: {seen}." if seen else ".")) from None
            failures.append(_failure(one, outcome))
            continue
        works, total = outcome
        ranked.append(works)
        totals[one.name] = total
    if not ranked:
        seen = "; ".join(f"{h['id']} ({h['title'][:60]})" for h in local)
        raise ToolError("Search failed in every source: " + " | ".join(f"{f['source_failed']}: {f['why']} ({f['fix']})"
                                                                       for f in failures)
                        + (f". Papers already in the workspace that match: {seen}." if seen else "."))
    merged = merge(ranked)
    if sort == "citations":
        merged.sort(key=lambda w: -(w.get("citation_count") or 0))
    held: dict[str, str] = {}  # every alias of a workspace paper -> that paper's id
    for meta in ws.papers():
        for alias in ids.aliases(meta):
            held.setdefault(ids.match_key(alias), str(meta["id"]))
    room = max(200, min(ABSTRACT_CHARS, ABSTRACTS_BUDGET // size))
    results = []
    for work in merged:
        keys = {ids.match_key(a) for a in _aliases(work)}
        here = next((held[k] for k in keys if k in held), "")
        result = _result(work, work["sources"][0], bool(here), room)
        if here and ids.match_key(here) not in keys:  # in the workspace under another id (a local PDF): one paper
            result = {**result, "id": here, "also": work["id"]}
        results.append(result)
    if results:
        results[-1]["more"] = _more(offset, len(results), totals, size, sources)
    shown = {ids.match_key(a) for r in merged for a in _aliases(r)} | {ids.match_key(r["id"]) for r in results}
    results = [h for h in local if ids.match_key(h["id"]) not in shown] + results + failures
    if not merged and not local:
        where = f" after offset {offset}" if offset else ""
        if len(sources) == 1 and sources[0].name == "arxiv":
            raise ToolError(f"No arXiv results for {sources[0].shown_query(request)!r}{where}. Try broader "
                            "or fewer terms, other fields (ti:, abs:, au:, cat:), or wider dates.")
        raise ToolError(f"No results for {query!r}{where} in {', '.join(totals)}. Try broader or fewer terms, or "
                        "wider dates." + (f" Failed: {'; '.join(f['source_failed'] for f in failures)}." if failures
                                          else ""))
    return results


def _ask_all(ws: Workspace, settings: Settings, sources: list[Source], query: Query) -> list[Any]:
    """Each source's (works, total) or its FetchError, all asked at once within one total deadline
    (`search_timeout`); a source still working then is cut off and answers a FetchError saying so."""
    import threading
    import time

    from agent_scientist.papers.fetch import FetchError

    if len(sources) == 1:
        try:
            return [_from_source(ws, settings, sources[0], query)]
        except FetchError as exc:
            return [exc]
    outcomes: list[Any] = [None] * len(sources)

    def ask(i: int, source: Source) -> None:
        try:
            outcomes[i] = _from_source(ws, settings, source, query)
        except FetchError as exc:
            outcomes[i] = exc
        except Exception as exc:  # a source's bug is that source failing, not the whole search
            outcomes[i] = FetchError("bad_response", f"{source.title} failed: {type(exc).__name__}: {exc}"[:240])

    threads = [threading.Thread(target=ask, args=(i, s), daemon=True, name=f"search-{s.name}")
               for i, s in enumerate(sources)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + settings.search_timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return [FetchError("timeout", f"{s.title} did not answer within the search's {settings.search_timeout:g} s "
                                  "(AGENT_SCIENTIST_SEARCH_TIMEOUT, all sources together)")
            if outcomes[i] is None else outcomes[i] for i, s in enumerate(sources)]


def source_names(text: str) -> list[str]:
    """The sources named in a comma-separated list, validated against the registry."""
    try:
        return registry.parse_names(text)
    except ValueError:
        raise ToolError(f"source={text!r} is unknown: use {', '.join(registry.names())}, a comma-separated list of "
                        "them, or '' for the paper_sources setting.") from None


def _aliases(work: dict) -> list[str]:
    return [a for a in [work.get("id", ""), *( [work["arxiv_id"]] if work.get("arxiv_id") else []),
                        *([f"doi:{work['doi']}"] if work.get("doi") else []),
                        *([f"pmid:{work['pmid']}"] if work.get("pmid") else []),
                        *([f"pmcid:{work['pmcid']}"] if work.get("pmcid") else [])] if a]


def _from_source(ws: Workspace, settings: Settings, source: Source, query: Query) -> tuple[list[dict], int]:
    """(works, total) of one source, from the workspace cache when this exact request was made before."""
    params = source.request(settings, query)
    cache = search_cache_path(ws, params)
    try:
        cached = read_json(cache)
        entries, total = cached["entries"], int(cached.get("total") or 0)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        entries, total = source.search(settings, query)
        atomic_write_json(cache, {"params": params, "total": total, "fetched_at": now_iso(), "entries": entries})
    return source.works(entries), total


def _failure(source: Source, exc: Exception) -> dict:
    """What the answer says about a source that failed: which, why, and what the user can set."""
    kind = getattr(exc, "kind", "")
    if kind == "rate_limited":
        fix = source.rate_limit_fix()
    elif kind == "offline":
        fix = "no network: papers already in the workspace stay searchable and readable"
    else:
        others = ",".join(n for n in registry.names() if n != source.name)
        fix = f"retry later, or search another source (source='{others}')"
    return {"source_failed": source.name, "why": str(exc)[:240], "fix": fix}


def _more(offset: int, shown: int, totals: dict[str, int], size: int, sources: list[Source]) -> str:
    """How to get the next results, said on the last result (the answer is a list, so it rides along)."""
    if len(sources) == 1 and sources[0].name == "arxiv":
        total = totals.get("arxiv", 0)
        span = f"arXiv results {offset + 1}-{offset + shown}" + (f" of {total}" if total else "")
        if total and offset + shown >= total:
            return f"{span}; no more."
        return f"{span}; next page: search_papers(same query, offset={offset + size})."
    counts = ", ".join(f"{n} {t}" for n, t in totals.items())
    span = f"results {offset + 1}-{offset + shown} merged from {len(totals)} source(s) ({counts} in all)"
    if all(offset + size >= t for t in totals.values()):
        return f"{span}; no more."
    return f"{span}; next page: search_papers(same query, offset={offset + size})."


def _result(entry: Mapping[str, Any], source: str, in_workspace: bool = False, room: int = 0) -> dict:
    authors = list(entry.get("authors") or [])
    if len(authors) > AUTHORS_SHOWN + 1:
        authors = authors[:AUTHORS_SHOWN] + [f"et al. ({len(authors)} authors)"]
    abstract = entry.get("abstract") or ""
    room = room or ABSTRACT_CHARS
    if len(abstract) > room:
        abstract = abstract[:room].rsplit(" ", 1)[0] + " … (read_paper(id) for the full abstract)"
    result = {"id": entry["id"], "title": entry.get("title", ""), "authors": authors,
              "year": entry.get("year"), "venue": entry.get("venue") or "",
              "citation_count": entry.get("citation_count"), "open_access": bool(entry.get("open_access", True)),
              "sources": entry.get("sources") or [source], "published": entry.get("published", ""),
              "categories": entry.get("categories", []), "abstract": abstract, "pdf_url": entry.get("pdf_url", ""),
              "source": source}
    if entry.get("doi"):
        result["doi"] = entry["doi"]
    if entry.get("retracted"):
        result["retracted"] = "RETRACTED: do not rely on it"
    for key in ("pmid", "pmcid"):
        if entry.get(key):
            result[key] = entry[key]
    if entry.get("notices"):
        result["notices"] = list(entry["notices"])[:5]
    if source == "workspace":
        result["pages"] = entry.get("pages", 0)
    else:
        result["in_workspace"] = in_workspace
    return result


def workspace_hits(ws: Workspace, query: str, start_date: str = "", end_date: str = "") -> list[dict]:
    """Papers already in the workspace (arXiv or local) ranked lexically against the query."""
    terms = query_terms(query)
    papers = [m for m in ws.papers() if _in_dates(m, start_date, end_date)]
    if not terms or not papers:
        return []
    docs = []
    for meta in papers:
        first = ""
        try:
            first = " ".join(read_pages(paper_dir(ws, meta["id"]))["pages"][:2])[:6000]
        except (OSError, ValueError, TypeError):
            pass
        docs.append(" ".join([meta.get("title", "")] * 3 + [" ".join(meta.get("authors", [])),
                                                             meta.get("abstract", ""), first]))
    scores = bm25(terms, docs)
    ranked = sorted((s, i) for i, s in enumerate(scores) if s > 0)[::-1][:WORKSPACE_HITS]
    return [_result(papers[i], "workspace") for _, i in ranked]


def _in_dates(meta: Mapping[str, Any], start_date: str, end_date: str) -> bool:
    published = (meta.get("published") or "").replace("-", "")
    if not published:
        return not (start_date or end_date)
    return (not start_date or published >= compact_date(start_date, "start_date")) and (
        not end_date or published <= compact_date(end_date, "end_date"))


