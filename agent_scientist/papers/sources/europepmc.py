"""Europe PMC REST API: search (resultType=core) and the open-access full text (`fullTextXML`, JATS) of PMC papers.

A thin client over papers/fetch.py, like the other indexes; the full text comes back as kind "xml", which
papers/jats.py pages. No key; Europe PMC asks for no more than a few requests a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_scientist.config import Settings
from agent_scientist.papers import fetch, ids
from agent_scientist.papers.sources.base import FullText, KeyedIndex, Query, plain_words, reach_check
from agent_scientist.papers.sources.works import MAX_JSON, parse_json, pubmed_notices, record

if TYPE_CHECKING:
    from agent_scientist.contracts import Check

NAME = "europepmc"
WHAT = "Europe PMC"
SORTS = {"citations": "CITED desc", "submitted": "P_PDATE_D desc", "updated": "P_PDATE_D desc"}
MAX_PAGE = 1000  # Europe PMC's largest pageSize


def _get(settings: Settings, path: str, params: dict | None = None, max_bytes: int = MAX_JSON) -> bytes:
    return fetch.http_get(settings.europepmc_api_url.rstrip("/") + path, timeout=settings.http_timeout,
                          max_bytes=max_bytes, params=params, what=WHAT, clock=NAME, delay=0.1)


def to_record(r: dict) -> dict | None:
    """A Europe PMC core result as a work; None without a title or any id of ours."""
    if not r.get("title"):
        return None
    authors = [a.get("fullName", "") for a in (r.get("authorList") or {}).get("author") or []]
    if not authors and r.get("authorString"):
        authors = [a.strip() for a in str(r["authorString"]).rstrip(".").split(",") if a.strip()]
    types = [str(t) for t in (r.get("pubTypeList") or {}).get("pubType") or []]
    journal = ((r.get("journalInfo") or {}).get("journal") or {}).get("title") or r.get("journalTitle") or ""
    pmcid = str(r.get("pmcid") or "")
    pdf = next((u.get("url", "") for u in (r.get("fullTextUrlList") or {}).get("fullTextUrl") or []
                if u.get("documentStyle") == "pdf" and u.get("availabilityCode") in ("OA", "F")), "")
    links = [(str(c.get("type") or ""), f"pmid:{c['id']}" if c.get("source") == "MED" and c.get("id")
              else str(c.get("reference") or c.get("id") or ""))
             for c in (r.get("commentCorrectionList") or {}).get("commentCorrection") or [] if isinstance(c, dict)]
    notices, retracted = pubmed_notices(types, links, WHAT)
    year = r.get("pubYear")
    title = str(r["title"])
    work = record(title=title[:-1] if title.endswith(".") and not title.endswith("..") else title, authors=authors, year=int(str(year)) if str(year or "").isdigit() else None,
                  published=r.get("firstPublicationDate") or "", venue=journal,
                  citation_count=r.get("citedByCount"), abstract=r.get("abstractText") or "",
                  open_access=r.get("isOpenAccess") == "Y", pdf_url=pdf, doi=ids.doi_of(r.get("doi") or ""),
                  pmcid=pmcid if ids.parse(f"pmcid:{pmcid}") else "", publication_type=", ".join(types),
                  retracted=retracted, notices=notices, sources=[NAME])
    if r.get("pmid"):
        work["pmid"] = str(r["pmid"])
    work["full_text_xml"] = bool(pmcid) and (r.get("inEPMC") == "Y" or r.get("isOpenAccess") == "Y")
    return work if work["id"] else None


def _query(query: Query) -> str:
    text = plain_words(query.text)
    if query.start_date or query.end_date:
        text = (f"({text}) AND FIRST_PDATE:[{query.start_date or '1800-01-01'} TO "
                f"{query.end_date or '3000-12-31'}]")
    return text


def search(settings: Settings, query: Query) -> tuple[list[dict], int]:
    size = min(MAX_PAGE, query.offset + query.size)
    params: dict[str, Any] = {"query": _query(query), "format": "json", "resultType": "core",
                              "pageSize": size, "cursorMark": "*"}
    if query.sort in SORTS:
        params["sort"] = SORTS[query.sort]
    data = parse_json(_get(settings, "/search", params), WHAT)
    results = ((data.get("resultList") or {}).get("result") or [])[query.offset:query.offset + query.size]
    return [w for w in (to_record(r) for r in results) if w], int(data.get("hitCount") or 0)


def lookup(settings: Settings, pid: str, known: dict | None) -> dict | None:
    """The work for a PMCID or a DOI (the paper's own, or the one an earlier source found)."""
    parsed = ids.parse(pid)
    pmcid = (known or {}).get("pmcid") or (parsed.value if parsed and parsed.kind == "pmcid" else "")
    doi = (known or {}).get("doi") or (parsed.value if parsed and parsed.kind == "doi" else "")
    if not (pmcid or doi):
        return None
    text = f"PMCID:{pmcid}" if pmcid else f'DOI:"{doi}"'
    data = parse_json(_get(settings, "/search", {"query": text, "format": "json", "resultType": "core",
                                                  "pageSize": 1}), WHAT)
    results = (data.get("resultList") or {}).get("result") or []
    return to_record(results[0]) if results else None


def full_text_xml(settings: Settings, pmcid: str) -> FullText:
    """The JATS full text of a PMC paper (FetchError not_found when Europe PMC has none)."""
    from agent_scientist.papers.jats import MAX_XML

    path = f"/{pmcid}/fullTextXML"
    data = _get(settings, path, max_bytes=MAX_XML)
    return FullText(data, "xml", settings.europepmc_api_url.rstrip("/") + path)


class EuropePmcSource(KeyedIndex):
    name = NAME
    title = WHAT
    settings: tuple[str, ...] = ("europepmc_api_url", "http_timeout", "pdf_max_mb")
    no_key_hint = "Europe PMC takes no key; it asks for a few requests a second at most (wait, or search other sources)"
    resolves = True
    has_graph = False

    def url(self, settings: Settings) -> str:
        return settings.europepmc_api_url

    def request(self, settings: Settings, query: Query) -> dict[str, Any]:
        return {"api": settings.europepmc_api_url, "source": NAME, "q": _query(query), "offset": query.offset,
                "limit": query.size, "sort": query.sort}

    def search(self, settings: Settings, query: Query) -> tuple[list[dict], int]:
        return search(settings, query)

    def work(self, settings: Settings, pid: str, known: dict | None) -> dict | None:
        try:
            return lookup(settings, pid, known)
        except fetch.FetchError as exc:
            if exc.kind == "not_found":
                return None
            raise

    def full_text(self, settings: Settings, work: dict) -> FullText | None:
        """The JATS full text when the work is in PMC (kind "xml"), else its open-access PDF."""
        if work.get("pmcid"):
            try:
                return full_text_xml(settings, str(work["pmcid"]))
            except fetch.FetchError as exc:
                if exc.kind != "not_found":
                    raise
        return None

    def rate_limit_fix(self) -> str:
        return self.no_key_hint

    def doctor_checks(self, settings: Settings) -> list[Check]:
        return [reach_check(self, settings, "no key needed; calls spaced 0.1 s apart")]


SOURCE = EuropePmcSource()
