"""Crossref REST API: the metadata of any DOI, the references its publisher deposited, and the
`update-to` / `updated-by` links of retraction and correction notices, flagged on the work.

Thin client over papers/fetch.py (habanero or crossrefapi would add a requests stack whose timeouts are
per read). `mailto` (contact_email) rides on every request: Crossref's polite pool.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from agent_scientist.papers import fetch, ids
from agent_scientist.papers.sources.base import KeyedIndex, Query, reach_check
from agent_scientist.papers.sources.works import MAX_JSON, parse_json, record

if TYPE_CHECKING:
    from agent_scientist.config import Settings
    from agent_scientist.contracts import Check

NAME = "crossref"
WHAT = "Crossref"
SORTS = {"citations": "is-referenced-by-count", "submitted": "published", "updated": "updated"}
MAX_REFERENCES = 200
RETRACTION = {"retraction", "removal", "withdrawal"}


def _get(settings: Settings, path: str, params: dict[str, Any] | None = None) -> dict:
    params = dict(params or {})
    if settings.contact_email:
        params["mailto"] = settings.contact_email
    body = fetch.http_get(settings.crossref_api_url.rstrip("/") + path, timeout=settings.http_timeout,
                          max_bytes=MAX_JSON, params=params, what=WHAT, clock=NAME, delay=0.02)
    data = parse_json(body, WHAT)
    if not isinstance(data, dict) or data.get("status") != "ok":
        raise fetch.FetchError("bad_response", f"{WHAT} answered without status ok: {str(data)[:160]}")
    return data.get("message") or {}


def _first(value: Any) -> str:
    return str(value[0]) if isinstance(value, list) and value else str(value or "")


def _date(w: dict) -> tuple[int | None, str]:
    for key in ("published", "published-print", "published-online", "issued", "created"):
        parts = ((w.get(key) or {}).get("date-parts") or [[]])[0] or []
        if parts and parts[0]:
            return int(parts[0]), "-".join(f"{int(p):02d}" if i else str(p) for i, p in enumerate(parts[:3]))
    return None, ""


def _notices(w: dict) -> tuple[list[str], bool]:
    """(what the notices say, retracted): `update-to` makes this work a notice of another DOI; `updated-by`
    says a notice was published about this one."""
    notices, retracted = [], False
    for link in w.get("update-to") or []:
        kind = str(link.get("type") or "update").lower()
        notices.append(f"this is a {kind} notice of doi:{ids.doi_of(link.get('DOI') or '')}")
    for link in w.get("updated-by") or []:
        kind = str(link.get("type") or "update").lower()
        notices.append(f"{kind} notice: doi:{ids.doi_of(link.get('DOI') or '')}")
        retracted = retracted or kind in RETRACTION
    return notices, retracted


def to_record(w: dict | None) -> dict | None:
    """A Crossref work as a work; None without a DOI or title."""
    if not w:
        return None
    doi, title = ids.doi_of(w.get("DOI") or ""), " ".join(_first(w.get("title")).split())
    if not doi or not title:
        return None
    authors = [" ".join(x for x in (a.get("given"), a.get("family")) if x) or a.get("name") or ""
               for a in w.get("author") or []]
    year, published = _date(w)
    notices, retracted = _notices(w)
    abstract = " ".join(re.sub(r"<[^>]+>", " ", w.get("abstract") or "").split())
    refs = [f"doi:{d}" for d in (ids.doi_of(r.get("DOI") or "") for r in w.get("reference") or []) if d]
    return record(title=title, authors=[a for a in authors if a], year=year, published=published,
                  venue=_first(w.get("container-title")), citation_count=w.get("is-referenced-by-count"),
                  abstract=abstract, doi=doi, publication_type=w.get("type") or "", retracted=retracted,
                  notices=notices, references=refs[:MAX_REFERENCES], references_deposited=len(w.get("reference") or []),
                  sources=[NAME])


class CrossrefSource(KeyedIndex):
    name = NAME
    title = WHAT
    settings: tuple[str, ...] = ("crossref_api_url", "contact_email", "http_timeout")
    resolves = True
    has_graph = False

    def url(self, settings: Settings) -> str:
        return settings.crossref_api_url

    def request(self, settings: Settings, query: Query) -> dict[str, Any]:
        return {"api": settings.crossref_api_url, "source": NAME, "q": self.shown_query(query),
                "offset": query.offset, "limit": query.size, "start": query.start_date, "end": query.end_date,
                "sort": query.sort}

    def search(self, settings: Settings, query: Query) -> tuple[list[dict], int]:
        params: dict[str, Any] = {"query": self.shown_query(query), "rows": query.size, "offset": query.offset}
        filters = ([f"from-pub-date:{query.start_date}"] if query.start_date else []) + (
            [f"until-pub-date:{query.end_date}"] if query.end_date else [])
        if filters:
            params["filter"] = ",".join(filters)
        if query.sort in SORTS:
            params.update(sort=SORTS[query.sort], order="desc")
        message = _get(settings, "/works", params)
        works = [w for w in (to_record(x) for x in message.get("items") or []) if w]
        return works, int(message.get("total-results") or 0)

    def work(self, settings: Settings, pid: str, known: dict | None) -> dict | None:
        """By DOI only: the paper's own, or the one an earlier source found."""
        parsed = ids.parse(pid)
        doi = (known or {}).get("doi") or (parsed.value if parsed is not None and parsed.kind == "doi" else "")
        if not doi:
            return None
        try:
            return to_record(_get(settings, "/works/" + quote(doi, safe="/")))
        except fetch.FetchError as exc:
            if exc.kind == "not_found":
                return None
            raise

    def rate_limit_fix(self) -> str:
        return "Crossref asks to slow down: set AGENT_SCIENTIST_CONTACT_EMAIL (its polite pool), or wait"

    def doctor_checks(self, settings: Settings) -> list[Check]:
        polite = (f"polite pool: mailto={settings.contact_email}" if settings.contact_email
                  else "public pool (set AGENT_SCIENTIST_CONTACT_EMAIL for Crossref's polite pool)")
        return [reach_check(self, settings, f"no key needed; {polite}")]


SOURCE = CrossrefSource()
