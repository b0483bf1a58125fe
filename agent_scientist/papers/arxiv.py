"""arXiv over HTTP: the API query, the Atom answer, and PDF downloads.

Requests go through papers/fetch.py (total deadline, bounded retries honouring Retry-After, size
caps) on the process's arXiv politeness clock; this module owns the query, the strict Atom parsing
and the check that a PDF answer really is a PDF.

Why not `arxiv.Client`: it can be pointed at a mirror through its public `query_url_format`
attribute, but it sends requests without a total deadline, retries without backoff or Retry-After,
keeps its delay clock per Client instance, and parses with `recover=True` so malformed XML
silently becomes "no results". We therefore send the request ourselves and parse the Atom
strictly; the package still names the sort criteria (`arxiv.SortCriterion`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from agent_scientist.config import Settings
from agent_scientist.papers import fetch
from agent_scientist.papers.fetch import FetchError

__all__ = ["FetchError", "http_get", "query_api", "parse_feed", "download_pdf", "check_pdf_bytes", "sort_value"]

_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}


def http_get(url: str, settings: Settings, *, params: dict | None = None, max_bytes: int,
             what: str = "arXiv") -> bytes:
    """A bounded GET (papers/fetch.py) on arXiv's politeness clock (`arxiv_delay` between calls)."""
    return fetch.http_get(url, timeout=settings.http_timeout, max_bytes=max_bytes, params=params, what=what,
                          clock="arxiv", delay=settings.arxiv_delay)


# -- API query ---------------------------------------------------------------
def sort_value(sort_by: str) -> str:
    """Map our sort names to arXiv's sortBy values (named by the arxiv package)."""
    import arxiv

    names = {"relevance": arxiv.SortCriterion.Relevance, "submitted": arxiv.SortCriterion.SubmittedDate,
             "updated": arxiv.SortCriterion.LastUpdatedDate}
    return names[sort_by].value


def query_api(settings: Settings, *, search_query: str = "", id_list: tuple[str, ...] = (),
              start: int = 0, max_results: int = 10, sort_by: str = "relevance") -> tuple[list[dict], int]:
    """One API call; returns (entries, total results). Raises FetchError with a clear message."""
    params = {
        "search_query": search_query,
        "id_list": ",".join(id_list),
        "start": str(start),
        "max_results": str(max_results),
        "sortBy": sort_value(sort_by),
        "sortOrder": "descending",
    }
    try:
        body = http_get(settings.arxiv_api_url, settings, params=params, max_bytes=20_000_000,
                        what="the arXiv API")
    except FetchError as exc:
        if exc.body:  # arXiv explains a 400 with an error entry in an Atom body
            try:
                parse_feed(exc.body)
            except FetchError as explained:
                if explained.kind == "api_error":
                    raise explained from None
        raise
    return parse_feed(body)


def parse_feed(body: bytes) -> tuple[list[dict], int]:
    """Strictly parse an arXiv Atom answer into plain entry dicts."""
    if not body.strip():
        raise FetchError("bad_response", "the arXiv API sent an empty answer; try again later")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        start = body[:60].decode("utf-8", "replace").strip()
        raise FetchError("bad_response", f"the arXiv API sent malformed XML ({exc}; starts {start!r}); "
                                         "try again later") from None
    if root.tag != f"{{{_NS['atom']}}}feed":
        raise FetchError("bad_response", f"the arXiv API sent {root.tag!r}, not an Atom feed")
    total_text = root.findtext("opensearch:totalResults", "0", _NS).strip()
    total = int(total_text) if total_text.isdigit() else 0
    entries = []
    for node in root.findall("atom:entry", _NS):
        raw_id = node.findtext("atom:id", "", _NS).strip()
        if "/api/errors" in raw_id:
            summary = " ".join(node.findtext("atom:summary", "", _NS).split())
            raise FetchError("api_error", f"arXiv rejected the request: {summary or raw_id}")
        entries.append(_entry(node, raw_id))
    return entries, total


def _entry(node: ET.Element, raw_id: str) -> dict:
    def text(path: str) -> str:
        return " ".join((node.findtext(path, "", _NS) or "").split())

    links = node.findall("atom:link", _NS)
    pdf_url = next((a.get("href", "") for a in links if a.get("title") == "pdf"), "")
    abs_url = next((a.get("href", "") for a in links if a.get("rel") == "alternate"), raw_id)
    primary = node.find("arxiv:primary_category", _NS)
    categories = [c.get("term", "") for c in node.findall("atom:category", _NS) if c.get("term")]
    published = text("atom:published")[:10]
    return {
        "id": raw_id.split("arxiv.org/abs/")[-1],
        "title": text("atom:title"),
        "authors": [_text_of(a, "atom:name") for a in node.findall("atom:author", _NS)],
        "published": published,
        "updated": text("atom:updated")[:10],
        "year": int(published[:4]) if published[:4].isdigit() else None,
        "categories": categories,
        "primary_category": primary.get("term", "") if primary is not None else (categories or [""])[0],
        "abstract": text("atom:summary"),
        "comment": text("arxiv:comment"),
        "pdf_url": pdf_url,
        "abs_url": abs_url,
    }


def _text_of(node: ET.Element, path: str) -> str:
    return " ".join((node.findtext(path, "", _NS) or "").split())


# -- PDFs ----------------------------------------------------------------------
def download_pdf(settings: Settings, arxiv_id: str) -> bytes:
    """Fetch the PDF of a versioned arXiv id into memory; it is a real PDF under the size cap or an error.

    Nothing touches the disk here: the caller writes the bytes atomically once they are validated,
    so a dropped connection or a refused answer leaves no partial file behind.
    """
    url = settings.arxiv_pdf_url.format(id=arxiv_id)
    max_bytes = int(settings.pdf_max_mb * 1_000_000)
    try:
        data = http_get(url, settings, max_bytes=max_bytes, what="arXiv (PDF)")
    except FetchError as exc:
        if exc.kind == "too_large":
            raise FetchError("too_large", f"{exc}; raise AGENT_SCIENTIST_PDF_MAX_MB to read it") from None
        raise
    check_pdf_bytes(data, url)
    return data


def check_pdf_bytes(data: bytes, where: str) -> None:
    """Refuse anything that is not a PDF by its bytes (HTML error pages, empty bodies)."""
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF-"):
        return
    if not data.strip():
        raise FetchError("not_pdf", f"{where} answered with an empty body instead of a PDF; try again later")
    if head[:1] == b"<":
        raise FetchError("not_pdf", f"{where} answered with an HTML/XML page instead of a PDF "
                                    f"(starts {head[:40].decode('utf-8', 'replace')!r}); the PDF may not "
                                    "exist or not be ready yet")
    raise FetchError("not_pdf", f"{where} did not answer with a PDF (starts {head[:16]!r})")
