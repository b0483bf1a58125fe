"""The papers capability: registers `search_papers`, `read_paper` and `paper_graph` for the planner.

Search asks the configured sources (papers/sources/registry.py; cached per query in the workspace) and
also ranks the papers already in the workspace. Reading downloads and extracts a paper once, then answers from papers/<key>/ with an
overview, one page, or the passages that best match a query; every answer is bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_scientist.config import Settings
from agent_scientist.contracts import Check, Toolbox, ToolContext, ToolError
from agent_scientist.papers.graph import paper_graph as graph
from agent_scientist.papers.reading import read
from agent_scientist.papers.search import search
from agent_scientist.papers.store import find_paper, ingest_pdfs, load_pages
from agent_scientist.records import FigureRecord, PageTexts, PaperMeta
from agent_scientist.untrusted import mark_fields

__all__ = ["search", "read", "ingest_pdfs", "load_pages", "find_paper", "graph", "PapersCapability"]

FRAMED = ("abstract", "tldr", "contexts")  # a result's free text from outside: framed; other strings escaped
PAPERS_GUIDE = (
    "Papers: find them with search_papers and a precise query, refined as you learn (arXiv syntax: ti:, abs:, "
    "au:, cat:, AND/OR/ANDNOT); read them with read_paper (overview first, then only the pages you need, or "
    "query=\"...\" for passages); follow references and citations with paper_graph. Cite claims from papers "
    "with their page, e.g. [arXiv:2401.01234 p.3] or [doi:10.1093/mind/lix.236.433 p.3], a table or figure as "
    "[arXiv:2401.01234 tab.2] or [arXiv:2401.01234 fig.3] after reading it (table=N, figure=N). Do not rely on a "
    "RETRACTED paper. For example:\n"
    "    for p in search_papers('abs:\"label smoothing\" AND abs:calibration', max_results=5):\n"
    "        print(p['id'], p['year'], p['title'])"
)


def doctor_checks(settings: Settings) -> list[Check]:
    """Local checks for `doctor` (no network): pymupdf loads, Tesseract for scanned pages, the PDF URL has {id}."""
    checks = []
    try:
        import pymupdf

        checks.append(("pymupdf", True, pymupdf.VersionBind))
    except Exception as exc:  # pragma: no cover - an install problem
        checks.append(("pymupdf", False, f"cannot import ({exc}); reinstall agent-scientist"))
    from agent_scientist.papers.pdf import OCR_FIX, tessdata

    found = tessdata()
    checks.append(("tesseract (OCR)", True, f"scanned pages are read by OCR (language data in {found})" if found else
                   f"not installed: scanned pages stay unread (optional; to read them, {OCR_FIX})"))
    ok = "{id}" in settings.arxiv_pdf_url
    checks.append(("arxiv_pdf_url", ok, settings.arxiv_pdf_url if ok else
                   "AGENT_SCIENTIST_ARXIV_PDF_URL must contain {id}, e.g. https://arxiv.org/pdf/{id}"))
    return checks + source_checks(settings)


def source_checks(settings: Settings) -> list[Check]:
    """Each paper source in `paper_sources`, by its own doctor check (reachable, key, limits; no quota spent)."""
    from agent_scientist.papers.search import source_names
    from agent_scientist.papers.sources import registry

    try:
        names = source_names(settings.paper_sources)
    except ToolError as exc:
        return [("paper_sources", False, str(exc))]
    return [check for source in registry.sources(names) for check in source.doctor_checks(settings)]


class PapersCapability:
    """`search_papers`, `read_paper` and `paper_graph`; `passages` returns the index for paper passages (or None)."""

    name = "papers"

    def __init__(self, passages: Callable[[], Any] | None = None) -> None:
        self.passages = passages or (lambda: None)

    def register(self, ctx: ToolContext, box: Toolbox) -> None:
        _register(self, ctx, box)

    def doctor_checks(self, settings: Settings) -> list[Check]:
        return doctor_checks(settings)


IMAGES_KEPT = 3  # action steps whose figure images stay in the prompt


def _register(cap: PapersCapability, ctx: ToolContext, box: Toolbox) -> None:
    """Give the planner `search_papers` and `read_paper` bound to this workspace; with a planner that accepts
    images, a figure read attaches the figure's PNG to that step's observation (found from the paper's own
    cache by this process, never from a path the model wrote); else the worker's description of it when the
    worker accepts images, else the paper's sentences about it."""
    from agent_scientist.agent.models import accepts_images
    from agent_scientist.papers.describe import text_only_note, worker_note
    from agent_scientist.papers.ids import citation_label
    from agent_scientist.papers.reading import FIGURE_ATTACHED, FIGURE_TEXT_ONLY, FigureNote, figure_image

    vision = accepts_images(ctx.settings)
    worker_sees = not vision and accepts_images(ctx.settings, "worker")
    pending: list[Path] = []

    def figure_note(meta: PaperMeta, folder: Path, data: PageTexts, figure: FigureRecord) -> str:
        pages = list(data.get("pages") or [])
        if worker_sees:
            return worker_note(folder, figure, ctx.worker_model, citation_label(meta["id"]),
                               ctx.settings.worker_max_output_tokens, pages)
        return text_only_note(pages, figure, citation_label(meta["id"]))

    # no worker in this process (the MCP server, whose client gets the image as content): the plain line
    seen: str | FigureNote = FIGURE_ATTACHED if vision else figure_note if ctx.worker_model is not None \
        else FIGURE_TEXT_ONLY

    def attach_figures(memory_step: Any, agent: Any = None) -> None:
        from agent_scientist.agent.adapter import attach_images, drop_old_images

        if pending:
            attach_images(memory_step, list(pending))
            pending.clear()
        drop_old_images(agent, IMAGES_KEPT, memory_step)

    if vision:
        box.step_callbacks.append(attach_figures)

    def search_papers(query: str, max_results: int = 10, sort_by: str = "relevance", start_date: str = "",
                      end_date: str = "", offset: int = 0, source: str = "") -> list[dict]:
        """Search the paper indexes (by default arXiv, Semantic Scholar and OpenAlex; merged, duplicates removed),
        plus the papers already in this workspace (marked source="workspace").

        Each result: id, title, authors, year, venue, citation_count, open_access, sources, abstract (shortened),
        and "retracted" when the paper was retracted. The last result has "more": how to get the next page.
        A source that failed is an item {"source_failed", "why", "fix"} at the end.

        Args:
            query: words; for arXiv also its syntax: ti:, au:, abs:, cat: fields with AND, OR, ANDNOT.
            max_results: number of results per source, 1 to 50.
            sort_by: "relevance", "citations" (most cited first), "submitted" or "updated" (newest first).
            start_date: earliest publication date YYYY-MM-DD, or "" for no limit.
            end_date: latest publication date YYYY-MM-DD, or "" for no limit.
            offset: results to skip, to get the next page (e.g. 10).
            source: "arxiv", "semantic_scholar", "openalex", "pubmed", "europepmc" (life sciences), "crossref", a
                comma-separated list, or "" for the configured ones.
        """
        found = search(ctx.ws, ctx.settings, query, max_results, sort_by, start_date, end_date, offset, source)
        return [mark_fields(r, FRAMED) for r in found]

    def paper_graph(paper_id: str, direction: str = "references", limit: int = 20, offset: int = 0) -> list[dict]:
        """The citation graph around a paper: what it cites, who cites it, or related papers.

        Each item: id, title, year, venue, citation_count, open_access, in_workspace; for citations also
        up to two contexts (the citing sentences: do they agree?) and influential. The last item has "more".

        Args:
            paper_id: any paper id, e.g. "2401.01234", "doi:10.1093/mind/lix.236.433", "s2:<40 hex>".
            direction: "references" (what it cites), "citations" (who cites it) or "related".
            limit: items per page, 1 to 100.
            offset: items to skip, to get the next page.
        """
        return [mark_fields(r, FRAMED) for r in graph(ctx.ws, ctx.settings, paper_id, direction, limit, offset)]

    def read_paper(paper_id: str, page: int = 0, query: str = "", table: int = 0, figure: int = 0) -> str:
        """Read a paper's full text (downloaded and cached on first use); answers are bounded.

        page=0 gives an overview (abstract, outline with pages, tables and figures, page count); page=N gives
        page N; query="..." gives the best matching passages with their pages; table=N gives table N as a
        markdown grid (page=2 its next part when long); figure=N gives figure N's caption, the text inside it
        and its image (or, for a model that cannot see images, a description of it). Cite as [arXiv:ID p.N], [arXiv:ID tab.2], [arXiv:ID fig.3] or [doi:DOI p.N]. A paper
        with no open-access full text gives its abstract only.

        Args:
            paper_id: e.g. "2401.01234v2", "arXiv:2401.01234", "doi:10.1093/mind/lix.236.433", "s2:<40 hex>",
                or "local:ab12cd34".
            page: 0 for the overview, or a page number from 1.
            query: words to find in this paper; when given, page is ignored.
            table: a table number from 1 (as in "Table 2"), or 0.
            figure: a figure number from 1 (as in "Figure 3"), or 0.
        """
        text = read(ctx.ws, ctx.settings, paper_id, page, query, cap.passages(), table, figure, seen)
        if vision and figure and not table and not str(query or "").strip():
            image = figure_image(ctx.ws, paper_id, int(figure))
            if image is not None:
                pending.append(image)
        return text

    box.add_functions(search_papers, read_paper, paper_graph)
    box.instructions.append(PAPERS_GUIDE)
