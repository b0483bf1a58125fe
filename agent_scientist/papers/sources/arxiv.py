"""arXiv as a paper source: search with its own query syntax and dates, an entry by id, its PDFs.

The HTTP client and the Atom parser are papers/arxiv.py; this module maps them onto the `Source` protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_scientist.papers.sources.base import FullText, Query, check_dates, reach_check
from agent_scientist.papers.sources.works import record

if TYPE_CHECKING:
    from agent_scientist.config import Settings
    from agent_scientist.contracts import Check


def build_query(query: str, start_date: str = "", end_date: str = "") -> str:
    """The arXiv search_query: the user's query, ANDed with a submittedDate range when dates are given."""
    start, end = check_dates(start_date, end_date)
    if not (start or end):
        return query
    return f"({query}) AND submittedDate:[{start or '19910101'}0000 TO {end or '29991231'}2359]"


def arxiv_work(entry: dict) -> dict:
    """An arXiv API entry as a work: open access, no venue or citation count (a work maps to itself)."""
    return record(id=entry["id"], title=entry.get("title", ""), authors=entry.get("authors", []),
                  year=entry.get("year"), published=entry.get("published", ""), abstract=entry.get("abstract", ""),
                  arxiv_id=entry["id"], pdf_url=entry.get("pdf_url", ""), open_access=True, sources=["arxiv"],
                  categories=entry.get("categories", []))


class ArxivSource:
    name = "arxiv"
    title = "arXiv"
    settings: tuple[str, ...] = ("arxiv_api_url", "arxiv_pdf_url", "arxiv_delay", "http_timeout", "pdf_max_mb")
    key_env = ""
    resolves = False  # it knows only its own ids; read_paper asks it directly for those
    has_graph = False

    def url(self, settings: Settings) -> str:
        return settings.arxiv_api_url

    @staticmethod
    def _sort(query: Query) -> str:
        return query.sort if query.sort in ("submitted", "updated") else "relevance"

    def request(self, settings: Settings, query: Query) -> dict[str, Any]:
        return {"api": settings.arxiv_api_url, "search_query": self.shown_query(query), "start": query.offset,
                "max_results": query.size, "sort": self._sort(query)}

    def search(self, settings: Settings, query: Query) -> tuple[list[dict], int]:
        from agent_scientist.papers.arxiv import query_api

        return query_api(settings, search_query=self.shown_query(query), start=query.offset,
                         max_results=query.size, sort_by=self._sort(query))

    def works(self, entries: list[dict]) -> list[dict]:
        return [arxiv_work(e) for e in entries]

    def shown_query(self, query: Query) -> str:
        return build_query(query.text, query.start_date, query.end_date)

    def work(self, settings: Settings, pid: str, known: dict | None) -> dict | None:
        """The entry for an arXiv id as a work (None for another kind of id or an unknown paper)."""
        from agent_scientist.papers import ids
        from agent_scientist.papers.arxiv import query_api

        if ids.kind_of(pid) != "arxiv":
            return None
        entries, _ = query_api(settings, id_list=(pid,), max_results=1)
        return arxiv_work(entries[0]) if entries and entries[0].get("title") else None

    def full_text(self, settings: Settings, work: dict) -> FullText | None:
        from agent_scientist.papers.arxiv import download_pdf

        arxiv_id = work.get("arxiv_id") or ""
        if not arxiv_id:
            return None
        return FullText(download_pdf(settings, arxiv_id), "pdf", settings.arxiv_pdf_url.replace("{id}", arxiv_id))

    def graph(self, settings: Settings, pid: str, direction: str, limit: int, offset: int) -> tuple[
            list[dict], int | None]:
        raise NotImplementedError("arXiv has no citation graph")

    def rate_limit_fix(self) -> str:
        return "arXiv asks for pauses: raise AGENT_SCIENTIST_ARXIV_DELAY"

    def doctor_checks(self, settings: Settings) -> list[Check]:
        return [reach_check(self, settings, f"no key needed; {settings.arxiv_delay:g} s between calls")]


SOURCE = ArxivSource()
