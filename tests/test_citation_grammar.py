"""One table of citation forms, each with the refs it must give, run through the three consumers of the one
citation grammar (papers/citations.py): the report's citation index (report/answer.py rendering an answer),
the claim splitter (review/claims.py: which papers and pages a sentence cites) and eval scoring
(evals/scoring.py: citation counts, cited papers and the source key of each citation). They must agree."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
from support.report_ws import add_paper, add_visuals

from agent_scientist.evals.scoring import citation_measures, paper_keys, source_key
from agent_scientist.papers import citations
from agent_scientist.papers.citation_index import index_for
from agent_scientist.report.answer import render_answer
from agent_scientist.review.claims import split_claims
from agent_scientist.workspace import Workspace

S2 = "649def34f8be52c8b66281af98ae884c09aef38b"
A1, A2, A3 = "2401.01234v1", "2402.01234v1", "2401.05678v2"
OLD, CLS = "hep-th/9901001v1", "math.GT/0309136v1"
DOI, DOI2, SS, LOC = "doi:10.1000/xyz", "doi:10.1145/3292500.3330701", f"s2:{S2}", "local:ab12cd34"
PM, PMC = "pmid:31452104", "pmcid:PMC3320746"
PAPERS = (A1, A2, A3, OLD, CLS, DOI, DOI2, SS, LOC, PM, PMC)


class R(NamedTuple):
    """A ref a form must give: the workspace paper (None: unverified), pages, figure, table, source key."""

    paper: str | None
    pages: tuple[int, int] | None = None
    figure: int | None = None
    table: int | None = None
    key: str = ""


def a(paper: str, pages: tuple[int, int] | None = None, figure: int | None = None, table: int | None = None) -> R:
    """A verified ref; its source key follows from the paper."""
    return R(paper, pages, figure, table, source_key(paper))


P3 = (3, 3)
# (the form as written in a sentence, the refs it gives in order)
TABLE: list[tuple[str, list[R]]] = [
    ("[arXiv:2401.01234]", [a(A1)]),
    ("[arXiv:2401.01234 p.3]", [a(A1, P3)]),
    ("[2401.01234, 2402.01234]", [a(A1), a(A2)]),  # two papers, not one with the locator "2402.01234"
    ("[arXiv:2401.01234 p.3, 2401.05678 p.2]", [a(A1, P3), a(A3, (2, 2))]),  # both verified
    ("[arXiv:2401.01234 p.3; arXiv:2402.01234 p.4]", [a(A1, P3), a(A2, (4, 4))]),
    ("[arXiv:2401.01234 p.3, arXiv:2402.01234]", [a(A1, P3), a(A2)]),
    ("[2401.01234v1 p.3]", [a(A1, P3)]),
    ("[arxiv: 2401.01234V1 p. 3]", [a(A1, P3)]),
    ("[ARXIV:2401.01234 pp. 3-4]", [a(A1, (3, 4))]),
    ("[arXiv:2401.01234, pp. 3–5]", [a(A1, (3, 5))]),
    ("[arXiv:2401.01234 pages 3 to 4]", [a(A1, (3, 4))]),
    ("[arXiv:2401.01234 p.3/20]", [a(A1, P3)]),  # read_paper's label: page 3 of 20
    ("[arXiv:2401.01234, page 7]", [a(A1, (7, 7))]),
    ("[https://arxiv.org/abs/2401.01234 p.2]", [a(A1, (2, 2))]),
    ("[https://arxiv.org/pdf/2401.01234v1.pdf]", [a(A1)]),
    ("[arXiv:hep-th/9901001 p.2]", [a(OLD, (2, 2))]),
    ("[arXiv:math.gt/0309136]", [a(CLS)]),
    ("[doi:10.1000/xyz p.3]", [a(DOI, P3)]),
    ("[DOI: 10.1000/XYZ, p. 2]", [a(DOI, (2, 2))]),
    ("[https://doi.org/10.1000/xyz]", [a(DOI)]),
    ("[doi:10.1145/3292500.3330701, p.2]", [a(DOI2, (2, 2))]),
    ("[doi:10.48550/arXiv.2401.01234 p.3]", [a(A1, P3)]),  # arXiv's DOI is the arXiv paper
    (f"[s2:{S2} p.4]", [a(SS, (4, 4))]),
    (f"[S2:{S2.upper()}]", [a(SS)]),
    ("[local:AB12CD34 p.2]", [a(LOC, (2, 2))]),
    ("[arXiv:2401.01234 fig.3]", [a(A1, figure=3)]),
    ("[arXiv:2401.01234 Fig. 3]", [a(A1, figure=3)]),
    ("[arXiv:2401.01234, figure 3]", [a(A1, figure=3)]),
    ("[arXiv:2401.01234 tab.2]", [a(A1, table=2)]),
    ("[arXiv:2401.01234, Table 2]", [a(A1, table=2)]),
    ("[arXiv:2401.01234 p.3, fig.2]", [a(A1, P3, figure=2)]),
    ("[arXiv:2401.01234 Table 1 p.5]", [a(A1, (5, 5), table=1)]),
    ("[arXiv:2401.01234 p.3 fig.2 tab.1]", [a(A1, P3, 2, 1)]),
    ("[doi:10.1000/xyz fig.1; 2402.01234 tab.3]", [a(DOI, figure=1), a(A2, table=3)]),
    (f"[arXiv:2401.01234 p.3; doi:10.1000/xyz; s2:{S2}]", [a(A1, P3), a(DOI), a(SS)]),
    ("[2401.01234 p.3, doi:10.1000/xyz p.4, local:ab12cd34]", [a(A1, P3), a(DOI, (4, 4)), a(LOC)]),
    ("[arXiv:2401.01234v1 p.3; 2402.01234v1]", [a(A1, P3), a(A2)]),
    ("[pmid:31452104 p.2]", [a(PM, (2, 2))]),
    ("[PMID: 31452104]", [a(PM)]),
    ("[pmcid:PMC3320746 p.4/12]", [a(PMC, (4, 4))]),
    ("[pmcid:3320746 fig.2]", [a(PMC, figure=2)]),  # the PMC prefix may be left out
    ("[https://www.ncbi.nlm.nih.gov/pmc/articles/PMC3320746 p.3]", [a(PMC, P3)]),
    ("[pmid:31452104; pmcid:PMC3320746 p.3, doi:10.1000/xyz]", [a(PM), a(PMC, P3), a(DOI)]),
    ("[pmid:99999999]", [R(None, key="pmid:99999999")]),  # not in the workspace
    ("[pmid:0123]", [R(None, key="")]),  # a PMID never starts with 0: refused, names no paper
    ("pmid:31452104, p. 2", [a(PM, (2, 2))]),
    ("pmcid:PMC3320746 tab.1", [a(PMC, table=1)]),
    ("[arXiv:2501.99999]", [R(None, key="arxiv:2501.99999")]),  # not in the workspace
    ("[arXiv:2401.01234 p.99]", [R(None, key="arxiv:2401.01234")]),  # past the last page
    ("[arXiv:2401.01234 p.x]", [R(None, key="arxiv:2401.01234")]),  # unreadable page
    ("[arXiv:HEP-TH/9901001]", [R(None)]),  # ids.py refuses it: a citation attempt naming no paper
    ("[Smith et al., 2020]", [R(None, key="smith et al., 2020")]),  # author-year: never a workspace paper
    ("[HEP-TH/9901001]", []),  # not an id, not a citation
    ("[10.1000/xyz]", []),  # a bare DOI is no paper id (ids.py wants doi:)
    ("arXiv:2401.01234 p.3", [a(A1, P3)]),  # the forms below are cited in prose, outside brackets
    ("doi:10.1000/xyz", [a(DOI)]),
    (f"s2:{S2}", [a(SS)]),
    ("local:ab12cd34, p. 2", [a(LOC, (2, 2))]),
    ("https://arxiv.org/abs/2401.05678v2", [a(A3)]),
    ("arXiv:2401.01234 fig. 2", [a(A1, figure=2)]),
    ("arXiv:2401.0123x", [R(None)]),  # an arXiv citation attempt: shown, unverified
]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.create(Path(tmp_path_factory.mktemp("grammar")), "grammar", "q")
    for n, pid in enumerate(PAPERS):
        add_paper(ws, pid, f"Paper {n}", ["A B"], pages=20)
        add_visuals(ws, pid, figures=(1, 2, 3), tables=(1, 2, 3), pages=[3, 4, 5])  # the forms cite p.3 and p.5
    return ws


def test_the_table_is_large_enough() -> None:
    assert len(TABLE) >= 40 and len({form for form, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize("form, refs", TABLE, ids=[form for form, _ in TABLE])
def test_report_index(ws: Workspace, form: str, refs: list[R]) -> None:
    index = index_for(ws)
    render_answer(f"Dropout improves calibration {form}.", index, ws.files_dir, ws.root)
    got = [(o.paper_id or None, o.pages, o.figure, o.table) for o in index.occurrences]
    assert got == [r[:4] for r in refs]


@pytest.mark.parametrize("form, refs", TABLE, ids=[form for form, _ in TABLE])
def test_claim_splitter(ws: Workspace, form: str, refs: list[R]) -> None:
    claims = split_claims(f"Dropout improves calibration {form}. Next sentence.", index_for(ws))
    assert claims[0].plain.startswith("Dropout improves calibration")
    assert [(c.paper_id or None, c.pages) for c in claims[0].cites] == [(r.paper, r.pages) for r in refs]


@pytest.mark.parametrize("form, refs", TABLE, ids=[form for form, _ in TABLE])
def test_eval_scoring(ws: Workspace, form: str, refs: list[R]) -> None:
    index = index_for(ws)
    render_answer(f"Dropout improves calibration {form}.", index, ws.files_dir, ws.root)
    measures, cited = citation_measures(index)
    assert measures["citations"] == len(refs)
    assert measures["citations_verified"] == sum(1 for r in refs if r.paper)
    assert cited == {r.paper for r in refs if r.paper}
    papers = {str(p["id"]): p for p in ws.papers()}
    for occ, ref in zip(index.occurrences, refs, strict=True):
        assert source_key(occ.raw) == ref.key, occ.raw
        holders = [pid for pid, p in papers.items() if ref.key and ref.key in paper_keys(p)]
        assert holders == ([ref.paper] if ref.paper else holders), occ.raw  # a verified ref: its paper only
        if ref.paper is None and not ref.key:
            assert holders == []


@pytest.mark.parametrize("text, key", [
    ("HEP-TH/9901001", "hep-th/9901001"),  # refused by ids.py: compared as text, never an arXiv key
    ("arXiv:HEP-TH/9901001", ""),
    ("10.1000/x[1]", "doi:10.1000/x"),
    ("doi:10.1000/X.", "doi:10.1000/x"),
    ("https://doi.org/10.48550/arXiv.2401.01234", "arxiv:2401.01234"),
    ("10.48550/ARXIV.hep-th/9901001", "arxiv:hep-th/9901001"),
    ("arXiv:math.gt/0309136v2", "arxiv:math.gt/0309136"),
    ("local:AB12CD34", "local:ab12cd34"),
    ("PMID:31452104", "pmid:31452104"),
    ("pmcid:3320746", "pmcid:pmc3320746"),
    ("https://pubmed.ncbi.nlm.nih.gov/31452104", "pmid:31452104"),
    (f"S2:{S2.upper()}", f"s2:{S2}"),
    ("notes/Widgets.PDF", "file:widgets.pdf"),
    ("Attention is all you need", "attention is all you need"),
])
def test_source_key(text: str, key: str) -> None:
    assert citations.source_key(text) == key


def test_refs_carry_figures_and_tables() -> None:
    assert citations.parse_group("arXiv:2401.01234 p.3/12 Fig. 4; doi:10.1000/xyz Table 2") == [
        citations.Ref("arxiv", "2401.01234", "", 3, 3, figure=4),
        citations.Ref("doi", "doi:10.1000/xyz", table=2)]
    assert citations.parse_part("arXiv:2401.01234 §2.1") == citations.Ref("arxiv", "2401.01234", locator="§2.1")
    assert isinstance(citations.parse_part("arXiv:2401.01234 p.3 p.4"), str)  # two pages: unreadable


def test_ids_in_prose() -> None:
    text = f"As doi:10.1000/xyz p.3 and s2:{S2} show, unlike 2401.01234 (a bare number in prose), see arXiv:2401.01234."
    assert [raw for _s, _e, raw in citations.find_cited(text)] == ["doi:10.1000/xyz p.3", f"s2:{S2}",
                                                                   "arXiv:2401.01234"]
