"""OpenAlex works API: search, a work by DOI, with retraction flags and open-access PDF locations.

A thin client over papers/fetch.py (why not `pyalex`: its settings are a process-global mutable config,
its requests timeouts are per read, and its urllib3 retries run on their own schedule). The key
(OPENALEX_API_KEY) and the polite-pool email (`openalex_email`) ride as query parameters.
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

NAME = "openalex"
WHAT = "OpenAlex"
KEY_ENV = "OPENALEX_API_KEY"
NO_KEY_HINT = ("OpenAlex asks for a key past 100 list queries a day; set OPENALEX_API_KEY, and "
               "AGENT_SCIENTIST_OPENALEX_EMAIL for the polite pool")
SORTS = {"citations": "cited_by_count:desc", "submitted": "publication_date:desc", "updated": "publication_date:desc"}


def _get(settings: Settings, path: str, params: dict | None = None) -> Any:
    params = dict(params or {})
    if api_key(KEY_ENV):
        params["api_key"] = api_key(KEY_ENV)
    email = settings.openalex_email or settings.contact_email
    if email:
        params["mailto"] = email
    body = fetch.http_get(settings.openalex_api_url.rstrip("/") + path, timeout=settings.http_timeout,
                          max_bytes=MAX_JSON, params=params, what=WHAT, clock=NAME, delay=0.1)
    return parse_json(body, WHAT)


def _abstract(inverted: dict | None) -> str:
    """OpenAlex ships abstracts as {word: [positions]}: put the words back in order."""
    if not inverted:
        return ""
    slots: dict[int, str] = {}
    for word, positions in inverted.items():
        for pos in positions or []:
            slots[int(pos)] = word
    return " ".join(slots[i] for i in sorted(slots))


def _arxiv_of(work: dict) -> str:
    for loc in [work.get("primary_location") or {}, *(work.get("locations") or [])]:
        for url in (loc or {}).get("landing_page_url") or "", (loc or {}).get("pdf_url") or "":
            if "arxiv.org/" in url:
                pid = ids.parse(url)
                if pid and pid.kind == "arxiv":
                    return pid.base.stored
    return ""


def to_record(w: dict | None) -> dict | None:
    """An OpenAlex work as a work; None without a title."""
    if not w or not (w.get("title") or w.get("display_name")):
        return None
    source = ((w.get("primary_location") or {}).get("source") or {})
    best = w.get("best_oa_location") or {}
    return record(title=w.get("title") or w.get("display_name"),
                  authors=[(a.get("author") or {}).get("display_name", "") for a in w.get("authorships") or []],
                  year=w.get("publication_year"), published=w.get("publication_date") or "",
                  venue=source.get("display_name") or "", citation_count=w.get("cited_by_count"),
                  open_access=bool((w.get("open_access") or {}).get("is_oa")), pdf_url=best.get("pdf_url") or "",
                  abstract=_abstract(w.get("abstract_inverted_index")), doi=ids.doi_of(w.get("doi") or ""),
                  arxiv_id=_arxiv_of(w), openalex_id=str(w.get("id") or "").rsplit("/", 1)[-1],
                  publication_type=w.get("type") or "", retracted=bool(w.get("is_retracted")), sources=[NAME])


def search(settings: Settings, query: str, limit: int, offset: int, start: str = "", end: str = "",
           sort: str = "relevance") -> tuple[list[dict], int]:
    """(works, total); works without a DOI or an arXiv id are left out (no id of ours can name them)."""
    per_page = limit if offset % limit == 0 else min(200, offset + limit)
    page = offset // per_page + 1
    params: dict[str, Any] = {"search": query, "per_page": per_page, "page": page}
    filters = [f"from_publication_date:{start}"] if start else []
    filters += [f"to_publication_date:{end}"] if end else []
    if filters:
        params["filter"] = ",".join(filters)
    if sort in SORTS:
        params["sort"] = SORTS[sort]
    data = _get(settings, "/works", params)
    skip = offset - (page - 1) * per_page
    works = [w for w in (to_record(x) for x in (data.get("results") or [])[skip:skip + limit]) if w and w["id"]]
    return works, int((data.get("meta") or {}).get("count") or 0)


def work(settings: Settings, pid: str) -> dict | None:
    """The work for a DOI (None when OpenAlex does not know it or the id is not a DOI)."""
    parsed = ids.parse(pid)
    if parsed is None or parsed.kind != "doi":
        return None
    try:
        return to_record(_get(settings, f"/works/doi:{parsed.value}"))
    except fetch.FetchError as exc:
        if exc.kind == "not_found":
            return None
        raise


class OpenAlexSource(KeyedIndex):
    name = NAME
    title = WHAT
    settings: tuple[str, ...] = ("openalex_api_url", "openalex_email", "contact_email", "http_timeout", "pdf_max_mb")
    key_env = KEY_ENV
    no_key_hint = NO_KEY_HINT
    resolves = True
    has_graph = False

    def url(self, settings: Settings) -> str:
        return settings.openalex_api_url

    def request(self, settings: Settings, query: Query) -> dict[str, Any]:
        return {"api": settings.openalex_api_url, "source": NAME, "q": plain_words(query.text),
                "offset": query.offset, "limit": query.size, "start": query.start_date, "end": query.end_date,
                "sort": query.sort}

    def search(self, settings: Settings, query: Query) -> tuple[list[dict], int]:
        return search(settings, plain_words(query.text), query.size, query.offset, query.start_date,
                      query.end_date, query.sort)

    def work(self, settings: Settings, pid: str, known: dict | None) -> dict | None:
        """By DOI only: the paper's own, or the one an earlier source found."""
        parsed = ids.parse(pid)
        doi = (known or {}).get("doi") or (parsed.value if parsed is not None and parsed.kind == "doi" else "")
        return work(settings, f"doi:{doi}") if doi else None


SOURCE = OpenAlexSource()
