"""BibTeX and JSON exports: golden files, and their content checked field by field."""

from __future__ import annotations

import json
from pathlib import Path

from support.golden import check_golden
from support.report_ws import NOTES, add_paper, full_workspace

from agent_scientist.report import render
from agent_scientist.report.formats import bib_escape, bib_key, bibtex_entry
from agent_scientist.report.missed import reference_links
from agent_scientist.workspace import Workspace


def test_bibtex_golden(home: Path) -> None:
    text = render(full_workspace(home), NOTES, "bibtex").text
    check_golden("report_full.bib", text)
    assert text.count("@misc{") == 4  # the four cited papers, not the uncited one
    assert text.index("lovelace2024dropout") < text.index("hopper2023small") < text.index("noether1999old")
    assert "eprint = {2401.01234}" in text and "archivePrefix = {arXiv}" in text
    assert "primaryClass = {stat.ML}" in text and "url = {https://arxiv.org/abs/hep-th/9901001v1}" in text
    assert "% 6 unverified citation(s) were left out" in text


def test_bibtex_escaping_and_unique_keys(home: Path) -> None:
    ws = Workspace.create(home, "bib", "q")
    a = add_paper(ws, "2401.00001v1", "Deep {Nets} & 100% of $x_1$", ["Jean Dupont"], 2024)
    add_paper(ws, "2401.00002v1", "Deep nets again", ["Jean Dupont"], 2024)
    assert bib_escape("a_b & {c} 50% \\") == r"a\_b \& \{c\} 50\% \textbackslash{}"
    assert bib_key(a) == "dupont2024deep"
    assert "title = {Deep \\{Nets\\} \\& 100\\% of \\$x\\_1\\$}" in bibtex_entry(a, "k")


def test_pubmed_and_pmc_papers_link_to_their_records() -> None:
    pmc = {"id": "pmcid:PMC3320746", "title": "Kinase control", "pmid": "22479255"}
    assert "url = {https://pmc.ncbi.nlm.nih.gov/articles/PMC3320746/}" in bibtex_entry(pmc, "k")
    assert "url = {https://pubmed.ncbi.nlm.nih.gov/40000001/}" in bibtex_entry({"id": "pmid:40000001", "title": "T"}, "k")
    links = reference_links({"id": "doi:10.1/x", "doi": "10.1/x", "pmid": "22479255"})
    assert links[-1] == "PubMed [PMID 22479255](https://pubmed.ncbi.nlm.nih.gov/22479255/)."


def test_json_document(home: Path) -> None:
    ws = full_workspace(home)
    text = render(ws, NOTES, "json").text
    check_golden("report_full.json", text)
    doc = json.loads(text)
    assert doc["format"] == "agent-scientist-export" and doc["version"] == 1
    assert doc["workspace"]["question"] == ws.question and doc["partial"] is False
    assert doc["answer"].startswith("Dropout improves")
    assert doc["steps"]["count"] == 3 and len(doc["steps"]["records"]) == 5 and doc["steps"]["records"][-2]["has_final_answer"] is True
    assert [n["id"] for n in doc["notes"]] == ["n4", "n2", "n1", "n3", "n5", "n6", "n7"]  # (created_at, id)
    assert {p["id"]: p["cited_number"] for p in doc["papers"]}["2405.09999v1"] is None
    assert [r["run"] for r in doc["runs"]] == [1, 2, 3]
    bad = [c for c in doc["citations"] if not c["verified"]]
    assert {c["label"] for c in bad} == {"U1", "U2", "U3", "U4", "U5", "U6"}
    assert all(c["reason"] for c in bad) and all(c["number"] for c in doc["citations"] if c["verified"])
    assert render(Workspace.open(home, ws.name), NOTES, "json").text == text


def test_json_without_memory(home: Path) -> None:
    doc = json.loads(render(full_workspace(home), None, "json", notes_error="no store").text)
    assert doc["notes"] is None and doc["notes_error"] == "no store"
