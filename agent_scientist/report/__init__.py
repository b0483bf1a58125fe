"""Reports: export a workspace as markdown (with verified citations), JSON or BibTeX.

`write_report` is what `research` calls when a run completes and what `export` calls on demand;
it works on any workspace, finished or not, and marks an unfinished one as partial.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_scientist.config import Settings
from agent_scientist.fsio import atomic_write_text
from agent_scientist.papers.citation_index import CitationIndex
from agent_scientist.report.formats import to_bibtex, to_json
from agent_scientist.report.markdown import build_markdown
from agent_scientist.workspace import Workspace

FORMATS = ("markdown", "json", "bibtex")
log = logging.getLogger(__name__)

__all__ = ["FORMATS", "ReportResult", "build_markdown", "load_notes", "render", "write_report"]


@dataclass
class ReportResult:
    """What was exported: the text, where it was written (None: not written), unverified citations."""

    text: str
    path: Path | None
    unverified: list[dict[str, Any]] = field(default_factory=list)
    partial: bool = False
    index: CitationIndex | None = None
    notes_error: str = ""  # why memory was unavailable, if it was


def load_notes(ws: Workspace, settings: Settings) -> tuple[list[dict[str, Any]] | None, str]:
    """All active notes from memory, or (None, why) when memory is unavailable: a report never fails on it."""
    from agent_scientist.memory import MemoryUnavailable, read_notes

    try:
        return list(read_notes(ws, settings)), ""
    except MemoryUnavailable as exc:
        return None, " ".join(str(exc).split())[:300] or type(exc).__name__
    except Exception as exc:  # not a known store failure: logged with its traceback, the report still comes out
        log.exception("reading the memory's notes for the report of %s failed", ws.name)
        return None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:280]}"


def render(ws: Workspace, notes: list[dict[str, Any]] | None, fmt: str = "markdown",
           report_dir: Path | None = None, notes_error: str = "", strict: bool = False) -> ReportResult:
    """Render a workspace in one format without writing anything (`strict`: only supported claims)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    report = build_markdown(ws, notes, report_dir, notes_error, strict)
    if fmt == "markdown":
        text = report.text
    elif fmt == "bibtex":
        text = to_bibtex(ws, report.index)
    else:
        text = to_json(ws, report.index, notes, notes_error, report.partial, report.answer, report.review)
    return ReportResult(text, None, report.index.unverified(), report.partial, report.index, notes_error)


def write_report(ws: Workspace, settings: Settings, fmt: str = "markdown",
                 output: Path | None = None, strict: bool = False) -> ReportResult:
    """Export ws; markdown goes to <workspace>/report.md unless `output` says where (others: only if given)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    path = Path(output) if output is not None else (ws.report_path if fmt == "markdown" else None)
    notes, notes_error = load_notes(ws, settings)
    result = render(ws, notes, fmt, report_dir=(path.parent if path else ws.root), notes_error=notes_error,
                    strict=strict)
    if path is not None:
        atomic_write_text(path, result.text)
        result.path = path
    return result
