"""paper_graph, reading DOI/S2 papers (arXiv version, open-access PDF, abstract only), retraction flags,
and what the report makes of them (references, BibTeX, "What you may have missed"), on loopback servers."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import pdfs
from support.arxiv_server import ArxivServer, entry
from support.report_ws import add_step
from support.scholar_server import ScholarServer, Work

from agent_scientist.config import load_settings
from agent_scientist.contracts import ToolError
from agent_scientist.papers.graph import paper_graph
from agent_scientist.papers.reading import read
from agent_scientist.papers.store import find_paper
from agent_scientist.report import render
from agent_scientist.workspace import Workspace

A, B, C, D, F = ("a" * 40, "b" * 40, "c" * 40, "d" * 40, "f" * 40)
DOI_A, DOI_B, DOI_C = "10.1000/widgets.2024", "10.1093/mind/lix.236.433", "10.5555/retracted.1"
AGREES = "We confirm the finding of Lovelace on widgets."


def works() -> list[Work]:
    return [
        Work(A, "Sparse widgets improve gadget accuracy", 2024, doi=DOI_A, arxiv="2401.00001", venue="NeurIPS",
             citations=40, kind="proceedings-article", references=[B, C, F, "9" * 40]),
        Work(B, "Computing widgets and intelligence", 1950, doi=DOI_B, venue="Mind", citations=9000,
             pdf=pdfs.make_paper(3, salt="mind"), abstract="Can widgets think?", tldr="Widgets may think.",
             references=[F], contexts={F: ["As F showed, widgets compute."]}),
        Work(C, "A retracted study of widgets", 2021, doi=DOI_C, citations=3, retracted=True,
             references=[A], contexts={A: [AGREES, "Unlike Lovelace, we find no gadgets."]}, influential={A}),
        Work(D, "Widgets nobody indexed but S2", 2020, venue=None, citations=None, authors=[], in_openalex=False,
             abstract="Only an abstract."),
        Work(F, "Foundations of widget theory", 1940, doi="10.2000/foundations", venue="Annals", citations=700),
    ]


@pytest.fixture
def servers():
    arxiv = ArxivServer([entry("2401.00001v2", "Sparse widgets improve gadget accuracy", published="2024-01-03",
                               pdf=pdfs.make_paper(4))]).start()
    scholar = ScholarServer(works()).start()
    yield arxiv, scholar
    arxiv.stop()
    scholar.stop()


@pytest.fixture
def ws(home: Path) -> Workspace:
    return Workspace.create(home, "g")


def make_settings(home: Path, servers, **extra):
    arxiv, scholar = servers
    return load_settings({"home": str(home), "arxiv_api_url": arxiv.api_url, "arxiv_pdf_url": arxiv.pdf_url,
                          "arxiv_delay": 0, "http_timeout": 2, "semantic_scholar_api_url": scholar.base,
                          "semantic_scholar_delay": 0, "openalex_api_url": scholar.base,
                          "paper_sources": "arxiv,semantic_scholar,openalex", **extra})


def test_references_citations_related_and_paging(ws, home, servers) -> None:
    s = make_settings(home, servers)
    refs = paper_graph(ws, s, "arXiv:2401.00001")
    assert [r["id"] for r in refs] == [f"doi:{DOI_B}", f"doi:{DOI_C}", "doi:10.2000/foundations"]  # unresolved: left out
    assert refs[0]["venue"] == "Mind" and refs[0]["open_access"] and "no more" in refs[-1]["more"]
    first = paper_graph(ws, s, f"doi:{DOI_A}", limit=1)
    assert first[0]["more"].endswith("paper_graph('doi:10.1000/widgets.2024', direction='references', offset=1)")
    cites = paper_graph(ws, s, "2401.00001", direction="citations")
    assert cites == [{"id": f"doi:{DOI_C}", "title": "A retracted study of widgets", "year": 2021, "venue": "Journal of Tests",
                      "citation_count": 3, "open_access": False, "in_workspace": False,
                      "contexts": [AGREES, "Unlike Lovelace, we find no gadgets."], "influential": True,
                      "more": cites[0]["more"]}]
    related = paper_graph(ws, s, f"s2:{A}", direction="related", limit=2)
    assert [r["id"] for r in related] == [f"doi:{DOI_B}", "doi:10.2000/foundations"] and "offset=2" in related[-1]["more"]
    with pytest.raises(ToolError, match="direction='sideways' is unknown"):
        paper_graph(ws, s, "2401.00001", direction="sideways")
    with pytest.raises(ToolError, match="paper_graph needs Semantic Scholar, which failed: .*404"):
        paper_graph(ws, s, "doi:10.9999/unknown")


def test_graph_failures_are_bounded_and_explained_and_pages_are_cached(ws, home, servers) -> None:
    _arxiv, scholar = servers
    s = make_settings(home, servers)
    scholar.fail("s2", *["429"] * 4)
    with pytest.raises(ToolError, match="SEMANTIC_SCHOLAR_API_KEY"):
        paper_graph(ws, s, "2401.00001")
    first = paper_graph(ws, s, "2401.00001")
    scholar.stop()
    assert paper_graph(ws, s, "2401.00001") == first


def test_a_doi_paper_is_read_from_its_open_access_pdf(ws, home, servers) -> None:
    s = make_settings(home, servers)
    text = read(ws, s, f"doi:{DOI_B.upper()}")
    assert text.startswith(f"[doi:{DOI_B} overview] Computing widgets and intelligence")
    assert "Venue: Mind | Citations: 9000" in text and "Year:" not in text and "TLDR: <<untrusted>>Widgets may think.<<end untrusted>>" in text
    assert f"Cite as [doi:{DOI_B} p.N]" in text
    assert read(ws, s, f"https://doi.org/{DOI_B}", page=2).startswith(f"[doi:{DOI_B} p.2/3]")


def test_a_doi_with_an_arxiv_version_is_one_paper(ws, home, servers) -> None:
    s = make_settings(home, servers)
    assert read(ws, s, f"doi:{DOI_A}").startswith("[arXiv:2401.00001v2 overview]")
    meta = find_paper(ws, f"doi:{DOI_A}")
    assert meta["id"] == "2401.00001v2" and meta["doi"] == DOI_A and meta["venue"] == "NeurIPS"
    assert [m["id"] for m in ws.papers()] == ["2401.00001v2"]
    assert read(ws, s, "2401.00001", page=1).startswith("[arXiv:2401.00001v2 p.1/4]")


def test_no_full_text_gives_the_abstract_and_retraction_is_flagged(ws, home, servers) -> None:
    s = make_settings(home, servers)
    text = read(ws, s, f"doi:{DOI_C}")
    assert text.splitlines()[1].startswith("RETRACTED: do not rely on it")
    assert "No full text" in text and "agent-scientist papers add" in text and f"Cite as [doi:{DOI_C}]" in text
    with pytest.raises(ToolError, match="no full text"):
        read(ws, s, f"doi:{DOI_C}", page=1)
    only = read(ws, s, f"s2:{D}")
    assert only.startswith(f"[s2:{D} overview]") and "Abstract: <<untrusted>>Only an abstract." in only


def test_the_report_marks_retractions_links_dois_and_lists_what_was_missed(ws, home, servers) -> None:
    s = make_settings(home, servers)
    for pid in ("2401.00001", f"doi:{DOI_B}", f"doi:{DOI_C}"):
        read(ws, s, pid)
    paper_graph(ws, s, "2401.00001")
    paper_graph(ws, s, f"doi:{DOI_B}")
    add_step(ws, 1, final_answer=f"Widgets help [arXiv:2401.00001 p.2; doi:{DOI_B} p.3] though "
                                 f"[doi:{DOI_C}] disagrees; its pages [doi:{DOI_C} p.1] cannot be cited.")
    report = render(ws, [], "markdown").text
    assert "[3](#ref-3) (RETRACTED)" in report and "citation removed: U1" in report
    assert f"DOI [{DOI_B}](https://doi.org/{DOI_B})" in report and "Mind. 1950. Cited by 9000." in report
    assert "**RETRACTED: do not rely on it.**" in report and "(Abstract only: no full text was available.)" in report
    missed = report.split("## What you may have missed", 1)[1]
    assert "Foundations of widget theory" in missed and "referenced by 2 cited papers" in missed
    assert "retracted study" not in missed  # read in the workspace: not missed
    bib = render(ws, [], "bibtex").text
    assert "@inproceedings{" in bib and "booktitle = {NeurIPS}" in bib and f"doi = {{{DOI_A}}}" in bib
    assert "eprint = {2401.00001}" in bib and "note = {RETRACTED}" in bib


def test_doctor_reports_each_source(home, servers, monkeypatch) -> None:
    from agent_scientist.papers.tool import source_checks

    monkeypatch.delenv("SEMANTIC_SCHOLAR_API_KEY", raising=False)
    monkeypatch.setenv("OPENALEX_API_KEY", "k")
    checks = {what: (ok, detail) for what, ok, detail in source_checks(make_settings(home, servers))}
    assert set(checks) == {"source arxiv", "source semantic_scholar", "source openalex"}
    assert all(ok for ok, _ in checks.values())
    assert "SEMANTIC_SCHOLAR_API_KEY not set" in checks["source semantic_scholar"][1]
    assert "OPENALEX_API_KEY set" in checks["source openalex"][1]
    down = load_settings({"home": str(home), "paper_sources": "semantic_scholar",
                          "semantic_scholar_api_url": "http://127.0.0.1:9"})
    [(what, ok, detail)] = source_checks(down)
    assert not ok and "cannot reach http://127.0.0.1:9" in detail
