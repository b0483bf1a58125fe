"""Citations of figures and tables: verified against the paper's extraction, rendered as [1, Fig. 3], shown in an
export to a folder, and checked by the reviewer against the table's grid or the figure's caption and text."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import pdfs
from support.review_ws import verdicts
from support.scripted import ScriptedModel

from agent_scientist.config import load_settings
from agent_scientist.papers.citation_index import index_for
from agent_scientist.papers.citations import parse_part
from agent_scientist.papers.tool import ingest_pdfs
from agent_scientist.report import render, write_report
from agent_scientist.review.revise import check_answer
from agent_scientist.workspace import Workspace


@pytest.fixture
def setup(home: Path, tmp_path: Path) -> tuple[Workspace, str]:
    ws = Workspace.create(home, "w", "Which method is most accurate?")
    path = tmp_path / "visual.pdf"
    path.write_bytes(pdfs.make_visual_paper())
    (added,) = ingest_pdfs(ws, load_settings({"home": str(home)}), [path])
    return ws, added["id"]


def _answer(ws: Workspace, text: str) -> None:
    ws.append_step({"type": "action", "step": 1, "final_answer": text, "tokens_in": 10, "tokens_out": 5})


def test_a_cited_figure_or_table_must_exist_in_the_paper(setup) -> None:
    ws, pid = setup
    index = index_for(ws)

    def cite(text: str):
        return index.cite(parse_part(text), text, "answer")

    assert cite(f"{pid} tab.1").verified and cite(f"{pid} fig.3").verified
    assert cite(f"{pid} p.2 fig.3").verified and cite(f"{pid} p.3, fig.3").verified  # drawn on p.2, caption on p.3
    assert cite(f"{pid} fig.7").reason == f"{pid} has no figure 7 (figures found: 1, 2, 3)"
    assert cite(f"{pid} tab.4").reason == f"{pid} has no table 4 (tables found: 1, 2, 3, 9)"
    assert cite(f"{pid} p.1 fig.2").reason == f"figure 2 of {pid} is on p.2, not on the cited pages"
    assert cite(f"{pid} p.7 tab.9").verified  # a table over pages 6-7


def test_report_renders_figures_and_tables_and_embeds_each_figure_once(setup, tmp_path) -> None:
    ws, pid = setup
    _answer(ws, f"Sparse is best at 12.05 [{pid} tab.1]. The loss flattens [{pid} fig.1]. "
                f"Again it flattens [{pid} p.1, fig.1]. A heat map [{pid} fig.2]. Not there [{pid} fig.8].")
    text = render(ws, [], "markdown").text
    assert "[[1, Table 1](#ref-1)]" in text and "[[1, Fig. 1](#ref-1)]" in text
    assert "[[1, p.1, Fig. 1](#ref-1)]" in text and "citation removed: U1" in text
    out = tmp_path / "export"
    out.mkdir()
    result = write_report(ws, load_settings({"home": str(ws.root.parent)}), folder=out)
    assert result.path == out / "report.md"
    report = (out / "report.md").read_text()
    section = report.split("## Figures cited")[1].split("## References")[0]
    assert section.count("![") == 2 and section.count("Figure 1: Loss curve") == 2  # alt text and caption, once
    image = section.split("](")[1].split(")")[0]
    assert image.startswith("figures/") and (out / image).is_file()
    assert (out / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Source: [1](#ref-1)" in section and "Fig. 2, p.2." in section and "Figure 3" not in section
    assert sorted(p.name for p in (out / "figures").iterdir()) == [f"{image.split('/')[1]}",
                                                                   image.split("/")[1].replace("1.png", "2.png")]


def test_the_reviewer_sees_the_grid_and_the_quote_must_be_in_it(setup, home) -> None:
    ws, pid = setup
    _answer(ws, f"The sparse method reaches 12.05 accuracy [{pid} tab.1]. "
                f"The curve shows the efficient widget's loss [{pid} fig.1]. "
                f"The dense method reaches 99.9 accuracy [{pid} tab.1].")
    worker = ScriptedModel([verdicts(("supported", "Sparse 12.05 007 +2.0%"),
                                     ("supported", "Loss curve of the efficient widget"),
                                     ("supported", "Dense 99.9 0.50 +0.1%"))], model_id="scripted/reviewer")
    record = check_answer(ws, load_settings({"home": str(home), "model": "scripted/test", "review_rounds": 1}),
                          worker)
    assert [c["verdict"] for c in record["claims"]] == ["supported", "supported", "unverified"]
    assert record["claims"][2]["why"] == f"the quote is not in {pid} Table 1"
    prompt = worker.calls[0]
    assert "| Sparse | 12.05 | 007 | +2.0% |" in prompt and f"SOURCE ({pid} Table 1)" in prompt
    assert "Text inside the figure: legend: loss epoch" in prompt
    assert record["claims"][0]["evidence"][0]["table"] == 1 and record["claims"][1]["evidence"][0]["figure"] == 1
    assert record["claims"][1]["evidence"][0]["figure_seen"] == "caption"  # a text-only reviewer, no description
    assert "figure_seen" not in record["claims"][0]["evidence"][0]
