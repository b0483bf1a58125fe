"""The papers capability: registers `search_papers` and `read_paper` for the planner.

Search asks arXiv (cached per query in the workspace) and also ranks the papers already in the
workspace. Reading downloads and extracts a paper once, then answers from papers/<key>/ with an
overview, one page, or the passages that best match a query; every answer is bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent_scientist.agent.registry import Check, Toolbox, ToolContext
from agent_scientist.config import Settings
from agent_scientist.papers.reading import read
from agent_scientist.papers.search import search
from agent_scientist.papers.store import find_paper, ingest_pdfs, load_pages

__all__ = ["search", "read", "ingest_pdfs", "load_pages", "find_paper", "PapersCapability"]


def doctor_checks(settings: Settings) -> list[Check]:
    """Local checks for `doctor` (no network): pymupdf loads, the PDF URL template has {id}."""
    checks = []
    try:
        import pymupdf

        checks.append(("pymupdf", True, pymupdf.VersionBind))
    except Exception as exc:  # pragma: no cover - an install problem
        checks.append(("pymupdf", False, f"cannot import ({exc}); reinstall agent-scientist"))
    ok = "{id}" in settings.arxiv_pdf_url
    checks.append(("arxiv_pdf_url", ok, settings.arxiv_pdf_url if ok else
                   "AGENT_SCIENTIST_ARXIV_PDF_URL must contain {id}, e.g. https://arxiv.org/pdf/{id}"))
    return checks


class PapersCapability:
    """`search_papers` and `read_paper`; `passages` returns the index for paper passages (or None)."""

    name = "papers"

    def __init__(self, passages: Callable[[], Any] | None = None) -> None:
        self.passages = passages or (lambda: None)

    def register(self, ctx: ToolContext, box: Toolbox) -> None:
        _register(self, ctx, box)

    def doctor_checks(self, settings: Settings) -> list[Check]:
        return doctor_checks(settings)


def _register(cap: PapersCapability, ctx: ToolContext, box: Toolbox) -> None:
    """Give the planner `search_papers` and `read_paper` bound to this workspace."""

    def search_papers(query: str, max_results: int = 10, sort_by: str = "relevance", start_date: str = "",
                      end_date: str = "", offset: int = 0) -> list[dict]:
        """Search arXiv, plus the papers already in this workspace (marked source="workspace").

        Each result: id (with version), title, authors, published, categories, abstract (shortened), pdf_url.
        The last arXiv result also has "more": the total and the offset of the next page.

        Args:
            query: words, or arXiv syntax: ti:, au:, abs:, cat: fields with AND, OR, ANDNOT.
            max_results: number of arXiv results, 1 to 50.
            sort_by: "relevance", "submitted" or "updated" (newest first).
            start_date: earliest submission date YYYY-MM-DD, or "" for no limit.
            end_date: latest submission date YYYY-MM-DD, or "" for no limit.
            offset: results to skip, to get the next page (e.g. 10).
        """
        return search(ctx.ws, ctx.settings, query, max_results, sort_by, start_date, end_date, offset)

    def read_paper(paper_id: str, page: int = 0, query: str = "") -> str:
        """Read a paper's full text (downloaded and cached on first use); answers are bounded.

        page=0 gives an overview (abstract, outline with pages, captions, page count); page=N gives
        page N; query="..." gives the best matching passages with their pages. Cite as [arXiv:ID p.N].

        Args:
            paper_id: e.g. "2401.01234", "2401.01234v2", "arXiv:2401.01234", an arxiv.org URL, or "local:ab12cd34".
            page: 0 for the overview, or a page number from 1.
            query: words to find in this paper; when given, page is ignored.
        """
        return read(ctx.ws, ctx.settings, paper_id, page, query, cap.passages())

    box.add_functions(search_papers, read_paper)
    box.instructions.append(
        "Papers: find them with search_papers, read them with read_paper (overview first, then pages or "
        "query=). Cite claims from papers with their page, e.g. [arXiv:2401.01234 p.3]."
    )
