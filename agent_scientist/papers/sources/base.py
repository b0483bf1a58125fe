"""The `Source` protocol every paper source implements, and the helpers sources share (dates, reach, PDFs)."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit

from agent_scientist.contracts import ToolError
from agent_scientist.papers.sources.works import api_key

if TYPE_CHECKING:
    from agent_scientist.config import Settings
    from agent_scientist.contracts import Check


def compact_date(value: str, name: str) -> str:
    """YYYY-MM-DD as YYYYMMDD ("" for ""); a ToolError naming the argument otherwise."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        return datetime.strptime(value, "%Y-%m-%d").strftime("%Y%m%d")
    except ValueError:
        raise ToolError(f"{name}={value!r} is not a date: use YYYY-MM-DD, e.g. '2023-01-31', or ''.") from None


def check_dates(start_date: str, end_date: str) -> tuple[str, str]:
    """Both dates as YYYYMMDD (or ""), in order; a ToolError the model can act on otherwise."""
    start, end = compact_date(start_date, "start_date"), compact_date(end_date, "end_date")
    if start and end and start > end:
        raise ToolError(f"start_date {start_date} is after end_date {end_date}; swap them.")
    return start, end


@dataclass(frozen=True)
class Query:
    """One search request, as every source receives it: words (arXiv syntax allowed), a page, an order, dates."""

    text: str
    size: int
    offset: int = 0
    sort: str = "relevance"  # relevance, citations, submitted or updated
    start_date: str = ""  # YYYY-MM-DD or ""
    end_date: str = ""


@dataclass(frozen=True)
class FullText:
    """An open-access full text as downloaded: `kind` says how to read it ("pdf"; a source may give "xml")."""

    data: bytes
    kind: str
    url: str


class Source(Protocol):
    """A paper index. Adding one is a module with a `SOURCE` object of this shape and one line in registry.py."""

    name: str  # as written in paper_sources and search_papers(source=...)
    title: str  # as said to the user, e.g. "Semantic Scholar"
    settings: tuple[str, ...]  # the settings it reads
    key_env: str  # the environment variable of its API key, or ""
    resolves: bool  # asked for what it knows of papers found elsewhere (metadata by id)
    has_graph: bool  # answers references, citations and related papers

    def url(self, settings: Settings) -> str:
        """The endpoint it asks (what `doctor` tries to reach)."""

    def request(self, settings: Settings, query: Query) -> dict[str, Any]:
        """What identifies one search in the workspace cache (the same request is never sent twice)."""

    def search(self, settings: Settings, query: Query) -> tuple[list[dict], int]:
        """(entries as cached, total). Raises FetchError."""

    def works(self, entries: list[dict]) -> list[dict]:
        """Cached entries as works (see `record`)."""

    def shown_query(self, query: Query) -> str:
        """The query as this source was asked it, for a "no results" message."""

    def work(self, settings: Settings, pid: str, known: dict | None) -> dict | None:
        """What it knows of one paper (None: nothing); `known` is what earlier sources found (e.g. its DOI)."""

    def full_text(self, settings: Settings, work: dict) -> FullText | None:
        """The open-access full text of a work it returned, or None when it has none. Raises FetchError."""

    def graph(self, settings: Settings, pid: str, direction: str, limit: int, offset: int) -> tuple[
            list[dict], int | None]:
        """(works, next offset or None) around a paper; only where has_graph."""

    def rate_limit_fix(self) -> str:
        """What the user can do when it says "too many requests"."""

    def doctor_checks(self, settings: Settings) -> list[Check]:
        """Reachable or not (a TCP connection, no quota spent), key present or not, and what that means."""


def key_limits(source: Source, no_key_hint: str) -> str:
    """What the key (or its absence) means for a source's limits, for `doctor`."""
    if api_key(source.key_env):
        return f"{source.key_env} set: the key's own rate limit"
    return f"{source.key_env} not set: {no_key_hint}"


def reach_check(source: Source, settings: Settings, limits: str) -> Check:
    """("source NAME", reachable, what and the limits): a TCP connection to the source's endpoint."""
    url = source.url(settings)
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or (443 if parts.scheme == "https"
                                                                            else 80)), timeout=3):
            reach, ok = f"{url} reachable", True
    except OSError as exc:
        reach, ok = f"cannot reach {url} ({exc}); searches will say this source failed", False
    return (f"source {source.name}", ok, f"{reach}; {limits}")


def plain_words(query: str) -> str:
    """An arXiv-syntax query as plain words, for the indexes that take plain words."""
    query = re.sub(r"submittedDate:\[[^\]]*\]", " ", query)
    query = re.sub(r"\b(AND|OR|ANDNOT)\b", " ", query)
    query = re.sub(r"\b(ti|au|abs|cat|all|co|jr|rn|id):", " ", query)
    return " ".join(query.replace('"', " ").replace("(", " ").replace(")", " ").split())


def open_access_pdf(settings: Settings, work: dict) -> FullText | None:
    """The work's open-access PDF (its pdf_url), bounded by pdf_max_mb; None when it has none."""
    from agent_scientist.papers.fetch import http_get

    url = work.get("pdf_url") or ""
    if not url:
        return None
    data = http_get(url, timeout=settings.http_timeout, max_bytes=int(settings.pdf_max_mb * 1e6),
                    what=f"the open-access PDF of {work.get('id', '')}")
    return FullText(data, "pdf", url)


class KeyedIndex:
    """Defaults for a scholarly index: plain words, works cached as they are, the open-access PDF, an API key."""

    title: str
    key_env = ""
    no_key_hint = ""  # what the key buys, said when it is missing

    def works(self, entries: list[dict]) -> list[dict]:
        return entries

    def graph(self, settings: Settings, pid: str, direction: str, limit: int, offset: int) -> tuple[
            list[dict], int | None]:
        """Only where has_graph: an index without one is never asked."""
        raise NotImplementedError(f"the {self.title} source serves no graph here")

    def shown_query(self, query: Query) -> str:
        return plain_words(query.text)

    def full_text(self, settings: Settings, work: dict) -> FullText | None:
        return open_access_pdf(settings, work)

    def rate_limit_fix(self) -> str:
        if not api_key(self.key_env):
            return self.no_key_hint
        return "the key's rate limit is reached: wait, or search other sources"

    def doctor_checks(self, settings: Settings) -> list[Check]:
        source = cast("Source", self)
        return [reach_check(source, settings, key_limits(source, self.no_key_hint))]
