"""PubMed through NCBI E-utilities: `esearch` (PubMed's own query syntax, publication-date filters) then
`efetch` (PubMed XML: title with its markup kept as text, authors, journal, date, abstract, DOI, PMID,
PMCID, MeSH terms, publication types, retraction and correction links).

Thin client over papers/fetch.py (Biopython's Entrez would bring a large dependency for two GETs and
its own unbounded urllib calls). XML is parsed with the standard library's ElementTree, which never
fetches external entities or DTDs; answers are capped in size and one declaring entities of its own is
refused, so no entity expansion can blow up. `tool`, `email` (contact_email) and `api_key`
(NCBI_API_KEY) ride on every request, spaced 3 a second without a key and 10 with one, as NCBI asks.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from agent_scientist.papers import fetch, ids
from agent_scientist.papers.sources.base import KeyedIndex, Query, key_limits, plain_words, reach_check
from agent_scientist.papers.sources.works import api_key, pubmed_notices, record

if TYPE_CHECKING:
    from agent_scientist.config import Settings
    from agent_scientist.contracts import Check

NAME = "pubmed"
WHAT = "PubMed (NCBI E-utilities)"
KEY_ENV = "NCBI_API_KEY"
TOOL = "agent-scientist"
MAX_XML = 20_000_000
NO_KEY_HINT = ("NCBI allows 3 requests a second without a key; set NCBI_API_KEY (free, from an NCBI account) "
               "for 10, and AGENT_SCIENTIST_CONTACT_EMAIL so NCBI can reach you before blocking")
SORTS = {"submitted": "pub_date", "updated": "pub_date"}  # PubMed has no citation-count order
_ARXIV_SYNTAX = re.compile(r"\b(?:ti|au|abs|cat|all|jr|co|rn|id):|submittedDate:", re.I)



def delay() -> float:
    """Seconds between two requests: NCBI allows 3 a second without a key, 10 with one."""
    return 0.1 if api_key(KEY_ENV) else 0.34


def _get(settings: Settings, tool: str, params: dict[str, Any]) -> ET.Element:
    params = {"db": "pubmed", **params, "tool": TOOL}
    if settings.contact_email:
        params["email"] = settings.contact_email
    if api_key(KEY_ENV):
        params["api_key"] = api_key(KEY_ENV)
    body = fetch.http_get(settings.pubmed_api_url.rstrip("/") + f"/{tool}.fcgi", timeout=settings.http_timeout,
                          max_bytes=MAX_XML, params=params, what=WHAT, clock=NAME, delay=delay())
    return parse_xml(body, WHAT)


def parse_xml(body: bytes, what: str) -> ET.Element:
    """The root of an XML answer; FetchError for one that is not XML or declares entities of its own."""
    if b"<!ENTITY" in body[:65536]:
        raise fetch.FetchError("bad_response", f"{what} sent XML declaring entities; refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise fetch.FetchError("bad_response", f"{what} sent an answer that is not XML (starts "
                                               f"{body[:60].decode('utf-8', 'replace')!r}); try again later") from None
    error = root.findtext("ERROR") or root.findtext(".//ERROR")
    if root.tag in ("eSearchResult", "eFetchResult", "eSummaryResult") and error and not root.findall(".//Id"):
        raise fetch.FetchError("http", f"{what} refused the query: {' '.join(error.split())[:200]}")
    return root


def text_of(el: ET.Element | None) -> str:
    """An element's text with inner markup (<i>, <sup>, <sub>) kept as its text, spaces collapsed."""
    return " ".join("".join(el.itertext()).split()) if el is not None else ""


def _date(article: ET.Element) -> tuple[int | None, str]:
    """(year, YYYY-MM-DD or YYYY-MM or YYYY) from the journal issue date (MedlineDate: its first year)."""
    months = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
    pub = article.find("Article/Journal/JournalIssue/PubDate")
    electronic = article.find("Article/ArticleDate")
    for node in (pub, electronic):
        if node is None:
            continue
        year = node.findtext("Year") or ""
        if not year:
            found = re.search(r"\d{4}", node.findtext("MedlineDate") or "")
            year = found.group(0) if found else ""
        if not year.isdigit():
            continue
        month = (node.findtext("Month") or "").strip()
        number = int(month) if month.isdigit() else months.get(month[:3].lower(), 0)
        day = (node.findtext("Day") or "").strip()
        published = year + (f"-{number:02d}" if number else "") + (f"-{int(day):02d}" if number and day.isdigit()
                                                                    else "")
        return int(year), published
    return None, ""


def _authors(article: ET.Element) -> list[str]:
    out = []
    for a in article.findall("Article/AuthorList/Author"):
        name = " ".join(x for x in (a.findtext("ForeName") or a.findtext("Initials"), a.findtext("LastName")) if x)
        out.append(name or text_of(a.find("CollectiveName")))
    return [a for a in out if a]


def _abstract(article: ET.Element) -> str:
    parts = []
    for node in article.findall("Article/Abstract/AbstractText"):
        label = node.get("Label")
        parts.append((f"{label}: " if label else "") + text_of(node))
    return " ".join(p for p in parts if p)


def to_record(art: ET.Element) -> dict | None:
    """A PubmedArticle as a work; None without a PMID or title."""
    citation = art.find("MedlineCitation")
    if citation is None:
        return None
    pmid = ids.pmid_of(citation.findtext("PMID") or "")
    title = text_of(citation.find("Article/ArticleTitle")) or text_of(citation.find("Article/VernacularTitle"))
    if not pmid or not title:
        return None
    article_ids = {i.get("IdType"): (i.text or "").strip() for i in art.findall("PubmedData/ArticleIdList/ArticleId")}
    doi = ids.doi_of(article_ids.get("doi", "")) or next(
        (ids.doi_of(e.text or "") for e in citation.findall("Article/ELocationID") if e.get("EIdType") == "doi"), "")
    types = [text_of(t) for t in citation.findall("Article/PublicationTypeList/PublicationType")]
    links = [(link.get("RefType") or "", f"pmid:{link.findtext('PMID')}" if link.findtext("PMID")
              else text_of(link.find("RefSource")))
             for link in citation.findall("CommentsCorrectionsList/CommentsCorrections")]
    notices, retracted = pubmed_notices(types, links, "PubMed")
    year, published = _date(citation)
    return record(title=title, authors=_authors(citation), year=year, published=published,
                  venue=text_of(citation.find("Article/Journal/Title")), abstract=_abstract(citation), doi=doi,
                  pmid=pmid, pmcid=ids.pmcid_of(article_ids.get("pmc", "")),
                  mesh=[text_of(m) for m in citation.findall("MeshHeadingList/MeshHeading/DescriptorName")],
                  publication_types=types, publication_type=types[0] if types else "",
                  open_access=bool(article_ids.get("pmc")), retracted=retracted, notices=notices, sources=[NAME])


def fetch_pmids(settings: Settings, pmids: list[str]) -> list[dict]:
    """The works of these PMIDs, in the order given (efetch, PubMed XML)."""
    if not pmids:
        return []
    root = _get(settings, "efetch", {"id": ",".join(pmids), "retmode": "xml"})
    found = {w["pmid"]: w for w in (to_record(a) for a in root.iter("PubmedArticle")) if w}
    return [found[p] for p in pmids if p in found]


def esearch(settings: Settings, term: str, size: int, offset: int = 0, start: str = "", end: str = "",
            sort: str = "relevance") -> tuple[list[str], int]:
    """(PMIDs, total) for a PubMed query; dates YYYYMMDD on the publication date."""
    params: dict[str, Any] = {"term": term, "retmax": size, "retstart": offset, "sort": SORTS.get(sort, "relevance")}
    if start or end:
        params.update(datetype="pdat", mindate=_slashed(start or "18000101"), maxdate=_slashed(end or "30001231"))
    root = _get(settings, "esearch", params)
    return [i.text.strip() for i in root.findall("IdList/Id") if i.text], int(root.findtext("Count") or 0)


def _slashed(compact: str) -> str:
    return f"{compact[:4]}/{compact[4:6]}/{compact[6:8]}"


def term_of(query: str) -> str:
    """The query as PubMed is asked it: its own syntax as written; an arXiv-syntax query as plain words."""
    return plain_words(query) if _ARXIV_SYNTAX.search(query) else query


class PubMedSource(KeyedIndex):
    name = NAME
    title = "PubMed"
    settings: tuple[str, ...] = ("pubmed_api_url", "contact_email", "http_timeout")
    key_env = KEY_ENV
    no_key_hint = NO_KEY_HINT
    resolves = True
    has_graph = False

    def url(self, settings: Settings) -> str:
        return settings.pubmed_api_url

    def request(self, settings: Settings, query: Query) -> dict[str, Any]:
        return {"api": settings.pubmed_api_url, "source": NAME, "term": term_of(query.text), "offset": query.offset,
                "limit": query.size, "start": query.start_date, "end": query.end_date, "sort": query.sort}

    def search(self, settings: Settings, query: Query) -> tuple[list[dict], int]:
        start, end = (d.replace("-", "") for d in (query.start_date, query.end_date))
        pmids, total = esearch(settings, term_of(query.text), query.size, query.offset, start, end, query.sort)
        return fetch_pmids(settings, pmids), total

    def shown_query(self, query: Query) -> str:
        return term_of(query.text)

    def work(self, settings: Settings, pid: str, known: dict | None) -> dict | None:
        """By PMID; a PMCID or DOI (the paper's own, or one an earlier source found) is looked up first."""
        parsed = ids.parse(pid)
        known = known or {}
        pmid = known.get("pmid") or (parsed.value if parsed and parsed.kind == "pmid" else "")
        if not pmid:
            pmcid = known.get("pmcid") or (parsed.value if parsed and parsed.kind == "pmcid" else "")
            doi = known.get("doi") or (parsed.value if parsed and parsed.kind == "doi" else "")
            term = f"{pmcid}[pmcid]" if pmcid else (f'"{doi}"[doi]' if doi else "")
            if not term:
                return None
            found, _total = esearch(settings, term, 1)
            pmid = found[0] if found else ""
        works = fetch_pmids(settings, [pmid]) if pmid else []
        return works[0] if works else None

    def rate_limit_fix(self) -> str:
        return NO_KEY_HINT if not api_key(KEY_ENV) else "NCBI's 10 requests a second are reached: wait a second"

    def doctor_checks(self, settings: Settings) -> list[Check]:
        polite = (f"spaced {1 / delay():.0f} requests/s; tool={TOOL}, "
                  + (f"email={settings.contact_email}" if settings.contact_email
                     else "no email (set AGENT_SCIENTIST_CONTACT_EMAIL, as NCBI asks)"))
        return [reach_check(self, settings, f"{key_limits(self, NO_KEY_HINT)}; {polite}")]


SOURCE = PubMedSource()
