"""Reports: export a workspace as markdown (with verified citations), JSON, BibTeX, or a paper (LaTeX, PDF).

`write_report` is what `research` calls when a run completes and what `export` calls on demand;
it works on any workspace, finished or not, and marks an unfinished one as partial.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from agent_scientist.config import Settings
from agent_scientist.fsio import atomic_write_bytes, atomic_write_text
from agent_scientist.papers.citation_index import CitationIndex
from agent_scientist.records import Note, UnverifiedCitation
from agent_scientist.report.formats import to_bibtex, to_json
from agent_scientist.report.markdown import build_markdown
from agent_scientist.workspace import Workspace

FORMATS = ("markdown", "json", "bibtex")
PAPER_FORMATS = ("latex", "pdf")
ENGINES = ("typst", "latex")

log = logging.getLogger(__name__)

__all__ = ["ENGINES", "FORMATS", "PAPER_FORMATS", "PaperResult", "ReportResult", "build_markdown", "export_paper",
           "load_notes", "render", "write_report"]


@dataclass
class ReportResult:
    """What was exported: the text, where it was written (None: not written), unverified citations."""

    text: str
    path: Path | None
    unverified: list[UnverifiedCitation] = field(default_factory=list)
    partial: bool = False
    index: CitationIndex | None = None
    notes_error: str = ""  # why memory was unavailable, if it was
    figures: list[tuple[Path, str]] = field(default_factory=list)  # cited figure images to copy beside it


def load_notes(ws: Workspace, settings: Settings) -> tuple[list[Note] | None, str]:
    """All active notes from memory, or (None, why) when memory is unavailable: a report never fails on it."""
    from agent_scientist import memory

    try:
        return list(memory.read_notes(ws, settings)), ""
    except memory.MemoryUnavailable as exc:  # looked up only on a failure: a workspace without memory loads no store
        return None, " ".join(str(exc).split())[:300] or type(exc).__name__
    except Exception as exc:  # not a known store failure: logged with its traceback, the report still comes out
        log.exception("reading the memory's notes for the report of %s failed", ws.name)
        return None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:280]}"


def render(ws: Workspace, notes: list[Note] | None, fmt: str = "markdown",
           report_dir: Path | None = None, notes_error: str = "", strict: bool = False,
           figures_beside: bool = False) -> ReportResult:
    """Render a workspace in one format without writing anything (`strict`: only supported claims;
    `figures_beside`: cited figures linked as figures/NAME.png beside the report, listed in `figures`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    report = build_markdown(ws, notes, report_dir, notes_error, strict, figures_beside)
    if fmt == "markdown":
        text = report.text
    elif fmt == "bibtex":
        text = to_bibtex(ws, report.index)
    else:
        text = to_json(ws, report.index, notes, notes_error, report.partial, report.answer, report.review)
    return ReportResult(text, None, report.index.unverified(), report.partial, report.index, notes_error,
                        report.figures if fmt == "markdown" else [])


def write_report(ws: Workspace, settings: Settings, fmt: str = "markdown",
                 output: Path | None = None, strict: bool = False, folder: Path | None = None) -> ReportResult:
    """Export ws; markdown goes to <workspace>/report.md unless `output` says where (others: only if given);
    a markdown export to a `folder` writes folder/report.md with each cited figure beside it in figures/."""
    if folder is not None:
        output = Path(folder) / "report.md"
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    path = Path(output) if output is not None else (ws.report_path if fmt == "markdown" else None)
    notes, notes_error = load_notes(ws, settings)
    result = render(ws, notes, fmt, report_dir=(path.parent if path else ws.root), notes_error=notes_error,
                    strict=strict, figures_beside=folder is not None and fmt == "markdown")
    if path is not None:
        for source, name in result.figures:
            atomic_write_bytes(path.parent / name, source.read_bytes())
        atomic_write_text(path, result.text)
        result.path = path
    return result


@dataclass
class PaperResult:
    """A paper export: where it went (a folder for latex, a file for pdf), and what the report found."""

    path: Path
    figures: int
    references: int
    partial: bool
    unverified: list[UnverifiedCitation] = field(default_factory=list)
    notes_error: str = ""
    engine: str = ""


def export_paper(ws: Workspace, settings: Settings, fmt: str, output: Path | None = None, engine: str = "typst",
                 strict: bool = False) -> PaperResult:
    """`latex`: main.tex + references.bib + figures/ in `output` (default <workspace>/paper/);
    `pdf`: one file (default <workspace>/paper.pdf), typeset by Typst, or by pdflatex with engine="latex"."""
    import tempfile

    from agent_scientist.fsio import atomic_write_bytes
    from agent_scientist.report.latex import compile_latex, write_latex
    from agent_scientist.report.paper import build_paper
    from agent_scientist.report.pdf import typst_pdf

    if fmt not in PAPER_FORMATS or engine not in ENGINES:
        raise ValueError(f"unknown paper format {fmt!r} or engine {engine!r}")
    notes, notes_error = load_notes(ws, settings)
    paper = build_paper(ws, notes, notes_error, strict)
    assert paper.report is not None
    bibtex = to_bibtex(ws, paper.report.index)

    def result(path: Path, figures: int, used: str) -> PaperResult:
        assert paper.report is not None
        return PaperResult(path, figures, len(paper.references), paper.partial, paper.report.index.unverified(),
                           notes_error, used)

    if fmt == "latex":
        folder = Path(output) if output is not None else ws.root / "paper"
        return result(folder, write_latex(paper, ws.files_dir, folder, bibtex, settings.paper_size).figure_count, "")
    target = Path(output) if output is not None else ws.root / "paper.pdf"
    if engine == "latex":
        with tempfile.TemporaryDirectory(prefix="agent-scientist-paper-") as tmp:
            writer = write_latex(paper, ws.files_dir, Path(tmp) / "paper", bibtex, settings.paper_size)
            data, figures = compile_latex(Path(tmp) / "paper"), writer.figure_count
    else:
        data, figures = typst_pdf(paper, ws.files_dir, settings.paper_size)
    atomic_write_bytes(target, data)
    return result(target, figures, engine)
