"""The paper export: `export --format latex` (compiled here with pdflatex + bibtex) and `--format pdf` (Typst),
on a research workspace with plots, a table, math and every special character, a partial one and an eval one."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pymupdf
import pytest
from support.report_ws import paper_workspace

from agent_scientist.config import ConfigError, load_settings
from agent_scientist.evals.runner import EVALS_DIR
from agent_scientist.report import export_paper
from agent_scientist.report.formats import bib_keys
from agent_scientist.report.latex import escape_tex, latex_engine, math_tex
from agent_scientist.report.paper import build_paper
from agent_scientist.report.pdf import typst_math
from agent_scientist.workspace import Workspace

TITLE = "Does dropout improve calibration on small datasets?"
REF_TITLES = ("Dropout and Calibration", "Small Data")
PNG_DIR = Path(os.environ.get("AGENT_SCIENTIST_TEST_PNG_DIR") or "")  # where page renders are kept, if set


def _needs_pdflatex() -> None:
    """The compile test fails in CI (where .ci/run installs TeX) and skips elsewhere when pdflatex is absent."""
    if latex_engine() != "pdflatex":
        if os.environ.get("CI"):
            pytest.fail("pdflatex and bibtex are missing: .ci/run installs texlive-latex-base")
        pytest.skip("pdflatex not installed")


def _text(pdf: Path) -> str:
    with pymupdf.open(pdf) as doc:
        return " ".join(" ".join(page.get_text().split()) for page in doc)


def _images(pdf: Path) -> set[int]:
    """Distinct images placed in the PDF (xrefs over all pages)."""
    with pymupdf.open(pdf) as doc:
        return {img[0] for page in doc for img in page.get_images(full=True)}


def _render_first_page(pdf: Path, tmp: Path) -> Path:
    """Page 1 as PNG (kept under AGENT_SCIENTIST_TEST_PNG_DIR to look at, when set)."""
    out = (PNG_DIR if str(PNG_DIR) else tmp) / f"{pdf.stem}-page1.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    with pymupdf.open(pdf) as doc:
        pix = doc[0].get_pixmap(dpi=60)
        pix.save(str(out))
        assert len(set(pix.samples[::97])) > 3  # something is drawn, not a blank page
    return out


def test_latex_folder_is_exactly_the_paper_and_deterministic(home: Path, settings) -> None:
    ws = paper_workspace(home)
    first = export_paper(ws, settings, "latex", home.parent / "one")
    second = export_paper(ws, settings, "latex", home.parent / "two")
    assert sorted(p.name for p in first.path.iterdir()) == ["figures", "main.tex", "references.bib"]
    figures = sorted(p.name for p in (first.path / "figures").iterdir())
    assert figures == ["runs-1-accuracy.png", "runs-1-curve.png", "runs-2-calib.png"]
    for name in ["main.tex", "references.bib", *(f"figures/{f}" for f in figures)]:
        assert (first.path / name).read_bytes() == (second.path / name).read_bytes(), name
    tex = (first.path / "main.tex").read_text(encoding="utf-8")
    # only characters utf8 inputenc + T1 set (Latin letters like É, ß); the rest was replaced
    assert all(ord(c) < 0x80 or 0xC0 <= ord(c) <= 0x17F for c in tex) and "Émile" in tex and "日" not in tex
    for package in ("graphicx", "booktabs", "hyperref", "natbib", "amsmath"):
        assert package in tex
    keys = {n: k for n, _p, k in bib_keys(build_paper(ws, []).report.index)}  # type: ignore[union-attr]
    assert f"\\citep[p.~3]{{{keys[1]}}}" in tex and f"\\citep[p.~2, Fig.~1]{{{keys[2]}}}" in tex
    bib = (first.path / "references.bib").read_text(encoding="utf-8")
    cited = set(re.findall(r"\\cite(?:p|alp)(?:\[[^\]]*\])?\{([^}]+)\}", tex))
    assert cited == set(keys.values()) == set(re.findall(r"^@\w+\{([^,]+),", bib, re.M))
    assert "2501.99999" not in bib and "\\hyperref[unverified-citations]{citation removed: U1}" in tex
    # text escaped, math kept (with its commands checked), the unsafe formula inert
    answer = tex[tex.index("\\section{Answer}"):]
    for escaped in (r"50\% \& more", r"snake\_case", r"\#hash", r"a lone \$5 fee", r"\{braces\}",
                    r"\textasciitilde{}tilde", r"x\textasciicircum{}y", r"back\textbackslash{}slash",
                    r"\textless{}angle\textgreater{}", r"$\alpha$-", r"$\leq$", "---dashes---", r"\checkmark"):
        assert escaped in answer or escaped in tex, escaped
    assert r"$\mathrm{ECE} = \sum_{b} \frac{|B_b|}{n}" in tex and r"$x_{i}^{2} \geq \{1, 2\}$" in tex
    assert "\\input{" not in tex and "\\write18" not in tex and "\\mathrm{input}" in tex
    assert r"\$a\textasciicircum{}\textasciicircum{}5c\$" in tex  # ^^ cannot be math: set as text
    assert "\\toprule" in tex and "\\includegraphics" in tex and "\\begin{abstract}" in tex


def test_latex_compiles_and_pdf_holds_title_references_figures_citations(home: Path, settings,
                                                                        tmp_path: Path) -> None:
    _needs_pdflatex()
    ws = paper_workspace(home)
    result = export_paper(ws, settings, "pdf", tmp_path / "latex.pdf", engine="latex")
    assert result.engine == "latex" and result.figures == 4
    text = _text(result.path)
    assert TITLE in text and all(t.lower() in text.lower() for t in REF_TITLES)  # bibtex styles lower titles
    assert "[1, p. 3]" in text and "[2, p. 2, Fig. 1]" in text and "citation removed: U1" in text
    assert "50% & more" in text and "{braces}" in text and "back\\slash" in text
    assert len(_images(result.path)) == 3  # accuracy.png is placed twice (answer, experiments): one image
    _render_first_page(result.path, tmp_path)


def test_typst_pdf_same_content_with_clickable_citations(home: Path, settings, tmp_path: Path) -> None:
    ws = paper_workspace(home)
    result = export_paper(ws, settings, "pdf", tmp_path / "typst.pdf")
    assert result.engine == "typst" and result.figures == 4 and result.references == 2
    text = _text(result.path)
    assert TITLE in text and all(t in text for t in REF_TITLES)
    assert "[1, p.3]" in text and "[2, p.2, Fig. 1]" in text and "citation removed: U1" in text
    assert "50% & more" in text and "#hash" in text and "@at" in text and "<angle>" in text
    assert len(_images(result.path)) >= 3
    with pymupdf.open(result.path) as doc:
        assert doc[0].rect.width == pytest.approx(595, abs=1)  # A4 by default
        assert doc.metadata["title"] == TITLE + " (50% & $5_x)"  # the question, without markdown escapes
        internal = [link for page in doc for link in page.get_links() if link["kind"] == pymupdf.LINK_GOTO]
    assert len(internal) >= 4  # each citation jumps to its reference
    _render_first_page(result.path, tmp_path)
    letter = export_paper(ws, load_settings({"home": str(home), "paper_size": "letter"}), "pdf",
                          tmp_path / "letter.pdf")
    with pymupdf.open(letter.path) as doc:
        assert doc[0].rect.width == pytest.approx(612, abs=1)


def test_partial_workspace_is_marked_partial_in_both(home: Path, settings, tmp_path: Path) -> None:
    ws = paper_workspace(home, "stopped", status="interrupted", answer=None)
    typst = export_paper(ws, settings, "pdf", tmp_path / "partial.pdf")
    assert typst.partial and "PARTIAL REPORT" in _text(typst.path) and "No final answer was given" in _text(
        typst.path)
    folder = export_paper(ws, settings, "latex", tmp_path / "partial")
    tex = (folder.path / "main.tex").read_text()
    assert "PARTIAL REPORT" in tex and "\\bibliography" not in tex  # nothing cited: no empty bibliography
    if latex_engine() == "pdflatex":
        compiled = export_paper(ws, settings, "pdf", tmp_path / "partial-latex.pdf", engine="latex")
        assert "PARTIAL REPORT" in _text(compiled.path) and len(_images(compiled.path)) == 3


def test_eval_workspace_exports_through_the_cli(home: Path, cli) -> None:
    name = f"{EVALS_DIR}/smoke/q1"
    ws = Workspace.create(home, name, "Which is larger?\nA) 2^10\nB) 10^3\nAnswer with the letter.")
    ws.update(eval={"name": "smoke", "id": "q1"})
    from support.report_ws import add_step, freeze

    add_step(ws, 1, final_answer="A, since $2^{10} = 1024 > 10^3$.")
    freeze(ws, status="completed")
    pdf = cli("export", name, "--format", "pdf")
    assert pdf.returncode == 0, pdf.stderr
    assert "Which is larger? A) 2^10" in _text(ws.root / "paper.pdf")
    latex = cli("export", name, "--format", "latex", "--output", str(home.parent / "q1-tex"))
    assert latex.returncode == 0, latex.stderr
    assert "LaTeX folder written to" in latex.stderr
    assert "$2^{10} = 1024 > 10^3$" in (home.parent / "q1-tex" / "main.tex").read_text()


def test_cli_errors_and_paper_size_checked_at_load(home: Path, cli, tmp_path: Path) -> None:
    paper_workspace(home)
    on_file = tmp_path / "afile"
    on_file.write_text("x")
    assert "is a file" in cli("export", "paper", "--format", "latex", "-o", str(on_file)).stderr
    assert "is a folder" in cli("export", "paper", "--format", "pdf", "-o", str(tmp_path)).stderr
    engine = cli("export", "paper", "--format", "latex", "--engine", "latex")
    assert engine.returncode == 2 and "only with --format pdf" in engine.stderr
    from conftest import cli_env

    bad = cli("export", "paper", "--format", "pdf", env=cli_env(home, AGENT_SCIENTIST_PAPER_SIZE="A5"))
    assert bad.returncode != 0 and "Setting 'paper_size' must be one of a4, letter" in bad.stderr
    with pytest.raises(ConfigError, match="paper_size"):
        load_settings({"home": str(home), "paper_size": "legal"})
    if shutil.which("pdflatex"):
        done = cli("export", "paper", "--format", "pdf", "--engine", "latex", "-o", str(tmp_path / "p.pdf"))
        assert done.returncode == 0 and "PDF (latex) written to" in done.stderr and (tmp_path / "p.pdf").stat().st_size


def test_escaping_and_math_units() -> None:
    assert escape_tex("a_b & 100% #1 {x} ~ ^ \\") == (r"a\_b \& 100\% \#1 \{x\} \textasciitilde{} "
                                                      r"\textasciicircum{} \textbackslash{}")
    assert escape_tex("α ≤ é 日") == r"$\alpha$ $\leq$ é ?"
    assert escape_tex("--") == "-{}-"
    assert math_tex(r"\frac{a}{b} \openout1 \catcode") == r"\frac{a}{b} \mathrm{openout}1 \mathrm{catcode}"
    assert math_tex("{a") is None and math_tex("a}") is None and math_tex("a^^5c") is None
    assert math_tex("50% & #") == r"50\% \& \#"
    assert typst_math(r"\frac{1}{n} \sum_{i} x_i^2 \leq \alpha") == "(1)/(n) sum_(i) x_(i)^(2) <= alpha"
    assert typst_math(r"\text{acc} / \foo") == 'upright("acc") \\/ upright("foo")'


def test_math_typst_refuses_is_set_as_text(home: Path, settings, tmp_path: Path) -> None:
    ws = paper_workspace(home, answer="A root with no radicand $\\sqrt$ and $x^2$ [arXiv:2401.01234 p.3].\n")
    result = export_paper(ws, settings, "pdf", tmp_path / "fallback.pdf")
    text = _text(result.path)
    assert "$\\sqrt$" in text and "$x^2$" in text and "[1, p.3]" in text


def test_citation_groups_and_removed_ones_in_latex(home: Path, settings, tmp_path: Path) -> None:
    from support.report_ws import full_workspace

    ws = full_workspace(home)
    tex = (export_paper(ws, settings, "latex", tmp_path / "full").path / "main.tex").read_text()
    assert "[\\citealp{hopper2023small}; \\citealp[pp.~5--6]{lovelace2024dropout}]" in tex  # one group, two cites
    assert "\\citep[Table~2]{lovelace2024dropout}" in tex and "\\citep[p.~4]{curielab}" in tex
    assert "\\nocite{lovelace2024dropout,hopper2023small,noether1999old,curielab}" in tex  # the report's numbering
    assert tex.count("citation removed: U") >= 5 and "2501.99999" not in tex.split("\\appendix")[0]
    assert "Never Cited" not in (tmp_path / "full" / "references.bib").read_text()


def _placed(pdf: Path) -> list[tuple[int, int]]:
    """(width, height) of each distinct image placed in the PDF."""
    with pymupdf.open(pdf) as doc:
        xrefs = sorted({img[0] for page in doc for img in page.get_images(full=True)})
        return sorted((doc.extract_image(x)["width"], doc.extract_image(x)["height"]) for x in xrefs)


def test_cited_paper_figures_and_tables_are_reproduced_in_both(home: Path, settings, tmp_path: Path) -> None:
    from support.report_ws import SPECIAL_TABLE, visual_workspace

    from agent_scientist.papers.layout import paper_dir

    ws, pid = visual_workspace(home, tmp_path)
    crops = paper_dir(ws, pid)
    folder = export_paper(ws, settings, "latex", tmp_path / "tex")  # the paper's extraction runs on this first read
    sizes = sorted(tuple(pymupdf.Pixmap(str(crops / f"figure-{n}.png")).irect[2:]) for n in (1, 2))
    assert folder.figures == 2  # fig.1 is cited twice: placed once
    stem = crops.name.replace("_", "-")
    assert sorted(p.name for p in (folder.path / "figures").iterdir()) == [f"{stem}-figure-1.png",
                                                                          f"{stem}-figure-2.png"]
    assert (folder.path / "figures" / f"{stem}-figure-2.png").read_bytes() == (crops / "figure-2.png").read_bytes()
    tex = (folder.path / "main.tex").read_text()
    key = re.search(r"\\citep\[Table~1\]\{([^}]+)\}", tex).group(1)  # type: ignore[union-attr]
    cited = tex[tex.index("\\section{Figures and tables cited}"):]
    assert f"\\includegraphics[width=0.7\\linewidth,height=0.35\\textheight,keepaspectratio]{{figures/{stem}-figure-1.png}}" in cited
    assert f"{{Loss curve of the efficient widget. Source: \\citep[p.~1, Fig.~1]{{{key}}}.}}" in cited
    assert "\\begin{table}" in cited and "\\toprule" in cited and f"Source: \\citep[p.~4, Table~4]{{{key}}}" in cited
    assert "Sparse & 12.05 & 007 & +2.0\\% \\\\" in cited and "Base & 3.30 & 0.07 & -1.5\\% \\\\" in cited
    # every cell the paper wrote is text: escaped, never a command, a link or a row argument
    assert "a\\_b & 50\\% \\& \\#1" in cited and "\\textbackslash{}input\\{x\\} & \\$y\\$" in cited
    assert "{}[link](x) *em*" in cited and "\\input{" not in tex

    typst = export_paper(ws, settings, "pdf", tmp_path / "typst.pdf")
    pdfs = [typst.path]
    if latex_engine() == "pdflatex":
        pdfs.append(export_paper(ws, settings, "pdf", tmp_path / "latex.pdf", engine="latex").path)
    for pdf in pdfs:
        text = _text(pdf)
        assert "Loss curve of the efficient widget. Source: [1, p" in text and "A raster heat map" in text
        for cell in ("3.30", "12.05", "007", "+2.0%", "-1.5%", "Delta", *(c for row in SPECIAL_TABLE[2] for c in row)):
            assert cell in text, (pdf.name, cell)
        assert _placed(pdf) == sizes, pdf.name  # the two crops, each once, at their size
        _render_first_page(pdf, tmp_path)
    _needs_pdflatex()  # the LaTeX half ran above where pdflatex is installed; in CI it must be


def test_free_locators_read_back_as_written(home: Path, settings, tmp_path: Path) -> None:
    ws = paper_workspace(home, answer="Set out in [arXiv:2401.01234 §2.1_b] and [arXiv:2401.01234 pp. 1-2, Table 2].\n")
    tex = (export_paper(ws, settings, "latex", tmp_path / "free").path / "main.tex").read_text()
    assert "\\citep[\\S~2.1\\_b]{lovelace2024dropout}" in tex  # the report's `\_` escape is not set as a backslash
    assert "\\citep[pp.~1--2, Table~2]{lovelace2024dropout}" in tex
    text = _text(export_paper(ws, settings, "pdf", tmp_path / "free.pdf").path)
    assert "[1, §2.1_b]" in text and "[1, pp.1-2, Table 2]" in text
