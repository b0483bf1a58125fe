"""arXiv over HTTP: the API query, the Atom answer, and PDF downloads.

Owns the one politeness clock of the process (arXiv asks for a pause between calls), the
timeouts, the retries with backoff on 429, 5xx, timeouts and dropped connections, and the
checks that a PDF answer really is a PDF of acceptable size.

Why not `arxiv.Client`: it can be pointed at a mirror through its public `query_url_format`
attribute, but it sends requests without a timeout, retries without backoff or Retry-After,
keeps its delay clock per Client instance, and parses with `recover=True` so malformed XML
silently becomes "no results". We therefore send the request ourselves and parse the Atom
strictly; the package still names the sort criteria (`arxiv.SortCriterion`).
"""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

from agent_scientist.config import Settings

_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}
USER_AGENT = "agent-scientist/0.1 (+https://github.com/; research assistant)"
RETRIES = 3
UNREACHABLE_RETRIES = 1  # a host that cannot be reached at all is tried twice, not four times: offline is common
MAX_RETRY_AFTER = 60.0


class FetchError(Exception):
    """A request to arXiv failed; `kind` says how and the message says what to do."""

    def __init__(self, kind: str, message: str, body: bytes = b""):
        super().__init__(message)
        self.kind = kind
        self.body = body  # the start of an error answer, which may explain the refusal


# -- the process-wide politeness clock ---------------------------------------
_clock_lock = threading.Lock()
_last_call = 0.0
_session: Any = None


def _wait_turn(delay: float) -> None:
    """Sleep until `delay` seconds have passed since the previous arXiv request of this process."""
    global _last_call
    with _clock_lock:
        pause = _last_call + delay - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        _last_call = time.monotonic()


def _mark_done() -> None:
    global _last_call
    with _clock_lock:
        _last_call = time.monotonic()


def _http() -> Any:
    global _session
    if _session is None:
        import requests

        _session = requests.Session()
        _session.headers["User-Agent"] = USER_AGENT
    return _session


def _retry_after(headers: Any) -> float:
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(headers.get("Retry-After", 0))))
    except (TypeError, ValueError):
        return 0.0


def http_get(url: str, settings: Settings, *, params: dict | None = None, max_bytes: int,
             what: str = "arXiv") -> bytes:
    """GET `url` politely with timeouts and retries; return the body, never more than `max_bytes`."""
    import requests

    last = "no answer"
    for attempt in range(RETRIES + 1):
        wait = 0.0
        _wait_turn(settings.arxiv_delay)
        try:
            with _http().get(url, params=params, timeout=settings.http_timeout, stream=True) as resp:
                status = resp.status_code
                if status == 429 or status >= 500:
                    last = f"{what} answered HTTP {status}"
                    wait = _retry_after(resp.headers)
                elif status == 404:
                    raise FetchError("not_found", f"{what} answered 404 Not Found for {resp.url}")
                elif status >= 400:
                    raise FetchError("http", f"{what} answered HTTP {status} for {resp.url}",
                                     body=resp.raw.read(65536, decode_content=True) or b"")
                else:
                    return _read_body(resp, settings, max_bytes, what)
        except requests.Timeout:
            last = f"{what} did not answer within {settings.http_timeout:g} s"
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            why = _unreachable(exc)
            if why:
                last = (f"connection to {what} failed: {urlsplit(url).netloc} cannot be reached ({why}); "
                        "no network, or the server is down")
                if attempt >= UNREACHABLE_RETRIES:
                    raise FetchError("offline", last) from None
            else:
                last = f"connection to {what} failed or dropped mid-answer ({_short(exc)})"
        except requests.RequestException as exc:
            raise FetchError("http", f"bad request to {what}: {_short(exc)}") from None
        finally:
            _mark_done()
        if attempt < RETRIES:
            time.sleep(max(wait, settings.arxiv_delay * 2**attempt))
    raise FetchError("unavailable", f"{last} (after {RETRIES + 1} tries)")


def _read_body(resp: Any, settings: Settings, max_bytes: int, what: str) -> bytes:
    length = resp.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise FetchError("too_large", f"{what} answer is {int(length) / 1e6:.1f} MB, over the "
                                      f"{max_bytes / 1e6:.1f} MB cap")
    deadline = time.monotonic() + max(10 * settings.http_timeout, 60.0)
    body = bytearray()
    for chunk in resp.iter_content(chunk_size=1 << 16):
        body += chunk
        if len(body) > max_bytes:
            raise FetchError("too_large", f"{what} answer exceeds the {max_bytes / 1e6:.1f} MB cap")
        if time.monotonic() > deadline:
            import requests

            raise requests.Timeout("download too slow")
    return bytes(body)


def _unreachable(exc: BaseException) -> str:
    """Why no connection could be opened at all (no network, unknown host, refused), or "" otherwise."""
    from urllib3.exceptions import NewConnectionError  # urllib3 2 adds NameResolutionError, a subclass

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if not isinstance(reason, NewConnectionError):
        return ""
    text = str(reason).lower()
    if type(reason).__name__ == "NameResolutionError" or "name or service" in text or "resolve" in text:
        return "the host name does not resolve"
    return "connection refused" if "refused" in text else _short(reason)[-80:]


def _short(exc: BaseException) -> str:
    text = re.sub(r"\s+", " ", str(exc))
    return text[:160] or type(exc).__name__


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
