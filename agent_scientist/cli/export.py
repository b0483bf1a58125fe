"""`agent-scientist export NAME`: the report of a workspace as markdown, JSON, BibTeX, LaTeX or PDF."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from agent_scientist.cli.common import EXIT_USAGE, cli_settings, err_console, fail, open_workspace, warn

FORMATS = ("markdown", "json", "bibtex", "latex", "pdf")
ENGINES = ("typst", "latex")


def export(
    name: str = typer.Argument(..., metavar="NAME", help="Workspace name (see `agent-scientist list`)."),
    fmt: str = typer.Option("markdown", "--format", "-f", help="markdown, json, bibtex, latex or pdf."),
    output: Path = typer.Option(None, "--output", "-o",
                                help="Write here ('-' for stdout only; markdown to a folder: DIR/report.md with the "
                                     "cited figures beside it). Default: markdown to "
                                     "<workspace>/report.md and stdout; json and bibtex to stdout; latex: a "
                                     "folder, <workspace>/paper/; pdf: a file, <workspace>/paper.pdf."),
    engine: str = typer.Option("typst", "--engine", help="pdf only: typst (built in) or latex (pdflatex + "
                                                        "bibtex, or tectonic, where installed)."),
    strict: bool = typer.Option(False, "--strict", help="Leave out every claim the review did not find "
                                                        "supported or partial (see `agent-scientist verify`)."),
) -> None:
    """Export a workspace's report; works on unfinished runs too (marked partial).

    Example: agent-scientist export does-x-improve-y --format bibtex --output refs.bib
    """
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        fail(f"Unknown format {fmt!r}: choose one of {', '.join(FORMATS)}.", EXIT_USAGE)
    engine = engine.strip().lower()
    if engine not in ENGINES or (engine != "typst" and fmt != "pdf"):
        fail(f"--engine {engine!r}: choose typst or latex, and only with --format pdf.", EXIT_USAGE)
    settings = cli_settings()
    ws = open_workspace(settings, name, check_steps=True)
    if fmt in ("latex", "pdf"):
        _export_paper(ws, settings, fmt, output, engine, strict)
        return
    from agent_scientist.report import write_report

    to_stdout = output is None or str(output) == "-"
    target = None if to_stdout else output
    folder = None
    if target is not None and target.is_dir():
        if fmt != "markdown":
            fail(f"--output {target} is a folder: give a file path, e.g. {target / ('report.' + _ext(fmt))}.")
        folder, target = target, None  # markdown to a folder: report.md with the cited figures beside it
    try:
        if folder is not None:
            result = write_report(ws, settings, fmt=fmt, strict=strict, folder=folder)
        elif target is not None or (output is None and fmt == "markdown"):
            result = write_report(ws, settings, fmt=fmt, output=target, strict=strict)
        else:
            result = _render_only(ws, settings, fmt, strict)
    except OSError as exc:
        fail(f"Could not write the report: {exc}. Nothing in the workspace was changed.")
    if to_stdout:
        sys.stdout.write(result.text)
        sys.stdout.flush()
    if result.path is not None:
        err_console.print(f"Report written to {result.path}", highlight=False)
    if result.notes_error:
        warn(f"Memory unavailable ({result.notes_error}); the report has no notes.")
    if result.partial:
        status = ws.meta.get("status") or "unknown"
        why = [f"has status {status}"] if status != "completed" else []
        why += ["has no final answer"] if ws.final_answer() is None else []
        warn(f"Workspace {ws.name!r} {' and '.join(why)}: the report is marked partial.")
    if result.unverified:
        count = len(result.unverified)
        warn(f"{count} unverified citation(s) were removed from the text; "
             "they are listed in the report's appendix.")


def _export_paper(ws: Any, settings: Any, fmt: str, output: Path | None, engine: str, strict: bool) -> None:
    from agent_scientist.report import export_paper
    from agent_scientist.report.latex import latex_engine

    if output is not None and str(output) == "-":
        fail(f"--format {fmt} writes files: give --output {'DIR' if fmt == 'latex' else 'FILE.pdf'}.", EXIT_USAGE)
    if fmt == "latex" and output is not None and output.exists() and not output.is_dir():
        fail(f"--output {output} is a file: --format latex writes a folder (main.tex, references.bib, figures/).")
    if fmt == "pdf" and output is not None and output.is_dir():
        fail(f"--output {output} is a folder: give a file path, e.g. {output / 'paper.pdf'}.")
    if engine == "latex" and latex_engine() is None:
        fail("--engine latex needs pdflatex and bibtex (Debian: apt-get install texlive-latex-base "
             "texlive-latex-recommended texlive-fonts-recommended) or tectonic; leave --engine out to typeset "
             "with the built-in typst.")
    try:
        result = export_paper(ws, settings, fmt, output, engine, strict)
    except OSError as exc:
        fail(f"Could not write the paper: {exc}. Nothing in the workspace was changed.")
    except RuntimeError as exc:  # the TeX engine failed: its first error line
        fail(str(exc))
    what = "LaTeX folder" if fmt == "latex" else f"PDF ({result.engine})"
    err_console.print(f"{what} written to {result.path}: {result.figures} figure(s), {result.references} "
                      f"reference(s)", highlight=False)
    if result.notes_error:
        warn(f"Memory unavailable ({result.notes_error}); the paper has no notes.")
    if result.partial:
        warn(f"Workspace {ws.name!r} has not completed: the paper is marked partial.")
    if result.unverified:
        warn(f"{len(result.unverified)} unverified citation(s) were removed from the text; "
             "they are listed in the paper's appendix.")


def _render_only(ws: Any, settings: Any, fmt: str, strict: bool = False) -> Any:
    from agent_scientist.report import load_notes, render

    notes, notes_error = load_notes(ws, settings)
    return render(ws, notes, fmt, report_dir=ws.root, notes_error=notes_error, strict=strict)


def _ext(fmt: str) -> str:
    return {"markdown": "md", "json": "json", "bibtex": "bib", "latex": "tex", "pdf": "pdf"}[fmt]


def register(app: typer.Typer) -> None:
    app.command("export")(export)
