"""Semantic Scholar Graph API: search, a paper by any id, references/citations (with contexts), recommendations.

A thin client over papers/fetch.py (why not the `semanticscholar` package: its httpx timeout is per read,
it retries 429s on its own schedule, and it has no bound on answer size). Calls share one politeness clock
per process (`semantic_scholar_delay`); the key, when set, is sent as `x-api-key`.
"""

from __future__ import annotations

from typing import Any

from agent_scientist.config import Settings
from agent_scientist.papers import fetch, ids
from agent_scientist.papers.sources.base import (
    KeyedIndex,
    Query,
    plain_words,
)
from agent_scientist.papers.sources.works import MAX_JSON, api_key, parse_json, record

NAME = "semantic_scholar"
WHAT = "Semantic Scholar"
KEY_ENV = "SEMANTIC_SCHOLAR_API_KEY"
FIELDS = ("paperId,externalIds,title,authors,year,venue,publicationVenue,journal,citationCount,isOpenAccess,"
          "openAccessPdf,publicationTypes,publicationDate,abstract")
GRAPH_FIELDS = ("paperId,externalIds,title,year,venue,citationCount,isOpenAccess,openAccessPdf,authors,"
                "publicationTypes")
NO_KEY_HINT = ("without a key Semantic Scholar shares a small public rate limit; set SEMANTIC_SCHOLAR_API_KEY "
               "(free on request) or raise AGENT_SCIENTIST_SEMANTIC_SCHOLAR_DELAY")


def _get(settings: Settings, path: str, params: dict | None = None) -> Any:
    key = api_key(KEY_ENV)
    body = fetch.http_get(settings.semantic_scholar_api_url.rstrip("/") + path, timeout=settings.http_timeout,
                          max_bytes=MAX_JSON, params=params, headers={"x-api-key": key} if key else {},
                          what=WHAT, clock=NAME, delay=settings.semantic_scholar_delay)
    return parse_json(body, WHAT)


def to_record(p: dict | None) -> dict | None:
    """A Graph API paper as a work; None for an empty slot (the API sends paperId null for unknown papers)."""
    if not p or not p.get("paperId") or not p.get("title"):
        return None
    ext = p.get("externalIds") or {}
    venue = p.get("venue") or (p.get("publicationVenue") or {}).get("name") or (p.get("journal") or {}).get("name")
    pdf = (p.get("openAccessPdf") or {}).get("url") or ""
    arxiv = ids.parse(f"arXiv:{ext['ArXiv']}") if ext.get("ArXiv") else None
    return record(title=p.get("title"), authors=[a.get("name", "") for a in p.get("authors") or [] if a],
                  year=p.get("year"), published=p.get("publicationDate") or "", venue=venue or "",
                  citation_count=p.get("citationCount"), open_access=bool(p.get("isOpenAccess") or pdf),
                  pdf_url=pdf, abstract=p.get("abstract") or "", tldr=((p.get("tldr") or {}).get("text") or ""),
                  doi=ids.doi_of(ext.get("DOI") or ""), arxiv_id=arxiv.stored if arxiv else "",
                  s2_id=str(p["paperId"]).lower(), publication_type=", ".join(p.get("publicationTypes") or []),
                  sources=[NAME])


def search(settings: Settings, query: str, limit: int, offset: int, start: str = "", end: str = "") -> tuple[
        list[dict], int]:
    """(works, total) for a relevance search; dates are YYYY-MM-DD or ""."""
    params: dict[str, Any] = {"query": query, "offset": offset, "limit": limit, "fields": FIELDS}
    if start or end:
        params["publicationDateOrYear"] = f"{start}:{end}"
    data = _get(settings, "/graph/v1/paper/search", params)
    works = [w for w in (to_record(p) for p in data.get("data") or []) if w]
    return works, int(data.get("total") or 0)


def lookup_id(pid: str) -> str:
    """The Graph API's id for one of our ids: ARXIV:, DOI:, or the paperId itself."""
    parsed = ids.parse(pid)
    if parsed is None or parsed.kind == "local":
        raise ValueError(f"{pid} has no Semantic Scholar id")
    if parsed.kind == "arxiv":
        return f"ARXIV:{parsed.base.value}"
    return f"DOI:{parsed.value}" if parsed.kind == "doi" else parsed.value


def paper(settings: Settings, pid: str) -> dict | None:
    """The work for one id (None when Semantic Scholar does not know it)."""
    try:
        data = _get(settings, f"/graph/v1/paper/{lookup_id(pid)}", {"fields": FIELDS + ",tldr"})
    except fetch.FetchError as exc:
        if exc.kind == "not_found":
            return None
        raise
    return to_record(data)


def graph(settings: Settings, pid: str, direction: str, limit: int, offset: int) -> tuple[list[dict], int | None]:
    """(items, next offset or None): references, citations (with contexts and influential) or related."""
    ident = lookup_id(pid)
    if direction == "related":
        if ids.kind_of(pid) != "s2":
            found = paper(settings, pid)
            if found is None:
                return [], None
            ident = found["s2_id"]
        data = _get(settings, f"/recommendations/v1/papers/forpaper/{ident}",
                    {"limit": min(500, offset + limit + 1), "fields": GRAPH_FIELDS})
        works = [w for w in (to_record(p) for p in data.get("recommendedPapers") or []) if w]
        page = works[offset:offset + limit]
        return page, (offset + limit if len(works) > offset + limit else None)
    side = "citedPaper" if direction == "references" else "citingPaper"
    fields = "contexts,isInfluential," + ",".join(f"{f}" for f in GRAPH_FIELDS.split(","))
    data = _get(settings, f"/graph/v1/paper/{ident}/{direction}", {"offset": offset, "limit": limit,
                                                                    "fields": fields})
    items = []
    for row in data.get("data") or []:
        work = to_record(row.get(side))
        if work is None:
            continue
        if direction == "citations":
            work["contexts"] = [" ".join(str(c).split())[:400] for c in (row.get("contexts") or [])[:2]]
            work["influential"] = bool(row.get("isInfluential"))
        items.append(work)
    return items, data.get("next")


class SemanticScholarSource(KeyedIndex):
    name = NAME
    title = WHAT
    settings: tuple[str, ...] = ("semantic_scholar_api_url", "semantic_scholar_delay", "http_timeout", "pdf_max_mb")
    key_env = KEY_ENV
    no_key_hint = NO_KEY_HINT
    resolves = True
    has_graph = True

    def url(self, settings: Settings) -> str:
        return settings.semantic_scholar_api_url

    def request(self, settings: Settings, query: Query) -> dict[str, Any]:
        return {"api": settings.semantic_scholar_api_url, "source": NAME, "q": plain_words(query.text),
                "offset": query.offset, "limit": query.size, "start": query.start_date, "end": query.end_date}

    def search(self, settings: Settings, query: Query) -> tuple[list[dict], int]:
        return search(settings, plain_words(query.text), query.size, query.offset, query.start_date, query.end_date)

    def work(self, settings: Settings, pid: str, known: dict | None) -> dict | None:
        return paper(settings, pid)

    def graph(self, settings: Settings, pid: str, direction: str, limit: int, offset: int) -> tuple[
            list[dict], int | None]:
        return graph(settings, pid, direction, limit, offset)


SOURCE = SemanticScholarSource()
