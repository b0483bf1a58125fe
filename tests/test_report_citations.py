"""Citation parsing, id normalisation and verification against a workspace's papers."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.report_ws import add_paper

from agent_scientist.papers.citation_index import CitationIndex, index_for
from agent_scientist.papers.citations import Ref, bracket_kind, paper_ref_key, parse_part
from agent_scientist.papers.citations import split_group as split_bracket
from agent_scientist.report.citations import render_group
from agent_scientist.workspace import Workspace


@pytest.mark.parametrize("text, expected", [
    ("arXiv:2401.01234", ("2401.01234", "")),
    ("arxiv: 2401.01234v2", ("2401.01234", "v2")),
    ("2401.01234V3", ("2401.01234", "v3")),
    ("https://arxiv.org/abs/2401.01234v2", ("2401.01234", "v2")),
    ("http://export.arxiv.org/pdf/2401.01234.pdf", ("2401.01234", "")),
    ("arxiv.org/pdf/2401.01234v1.pdf", ("2401.01234", "v1")),
    ("arXiv:hep-th/9901001v1", ("hep-th/9901001", "v1")),
    ("arXiv:math.GT/0309136", ("math.gt/0309136", "")),
    ("arXiv:math.gt/0309136v2", ("math.gt/0309136", "v2")),
])
def test_arxiv_ids_are_normalised(text: str, expected: tuple[str, str]) -> None:
    assert paper_ref_key(text) == ("arxiv", *expected)


@pytest.mark.parametrize("text", ["arXiv:2401.012345", "2401.1", "arXiv:foo", "https://arxiv.org/list/cs.AI", "",
                                  "arXiv:Math.GT/0309136", "HEP-TH/9901001"])
def test_non_ids_are_refused(text: str) -> None:
    assert (paper_ref_key(text) or ("",))[0] != "arxiv"


def test_local_ids() -> None:
    assert paper_ref_key("local:AB12cd34") == ("local", "local:ab12cd34", "")
    assert paper_ref_key("run 3") is None


@pytest.mark.parametrize("text, ref", [
    ("arXiv:2401.01234", Ref("arxiv", "2401.01234")),
    ("arXiv:2401.01234 p.3", Ref("arxiv", "2401.01234", "", 3, 3)),
    ("arXiv:2401.01234v2, p. 5-6", Ref("arxiv", "2401.01234", "v2", 5, 6)),
    ("arXiv:2401.01234 pp. 5–7", Ref("arxiv", "2401.01234", "", 5, 7)),
    ("arXiv:2401.01234, page 4", Ref("arxiv", "2401.01234", "", 4, 4)),
    ("local:ab12cd34 p.2", Ref("local", "local:ab12cd34", "", 2, 2)),
    ("arXiv:2401.01234, Table 2", Ref("arxiv", "2401.01234", table=2)),
    ("arXiv:2401.01234, §2.1", Ref("arxiv", "2401.01234", locator="§2.1")),
])
def test_parse_part(text: str, ref: Ref) -> None:
    assert parse_part(text) == ref


@pytest.mark.parametrize("text", ["arXiv:2401.01234 p.x", "arXiv:2401.01234 p. 3, 5", "Smith 2020",
                                  "arXiv:2401.01234 <script>alert(1)</script>"])
def test_malformed_parts_give_a_reason(text: str) -> None:
    assert isinstance(parse_part(text), str)


def test_brackets() -> None:
    assert split_bracket("arXiv:2401.01234 p.3; arXiv:2312.00001v1") == ["arXiv:2401.01234 p.3",
                                                                         "arXiv:2312.00001v1"]
    assert split_bracket("arXiv:2401.01234, arXiv:2312.00001") == ["arXiv:2401.01234", "arXiv:2312.00001"]
    assert bracket_kind("arXiv:2401.01234") == "cite"
    assert bracket_kind("local:ab12 p.2") == "cite"
    assert bracket_kind("Smith et al., 2020") == "foreign"
    assert bracket_kind("Vaswani and Shazeer 2017; Devlin et al. 2019") == "foreign"
    assert bracket_kind("doi:10.1000/xyz") == "cite"
    assert bracket_kind("0, 1") == ""
    assert bracket_kind("x") == ""
    assert bracket_kind("2401.01234v2 p.3") == "cite"


def _index(tmp_path: Path) -> CitationIndex:
    ws = Workspace.create(tmp_path, "ws", "q")
    add_paper(ws, "2401.01234v1", "First version", ["A B"], pages=10)
    add_paper(ws, "2401.01234v2", "Second version", ["A B"], pages=12)
    add_paper(ws, "hep-th/9901001v1", "Old", ["C D"], pages=0, pages_json=3)
    add_paper(ws, "local:ab12cd34", "Mine", ["E F"], pages=4)
    add_paper(ws, "2312.00001v1", "Unknown length", ["G H"], pages=0)
    return index_for(ws)


def test_verification_versions_pages_and_numbering(tmp_path: Path) -> None:
    index = _index(tmp_path)
    cite = lambda raw: index.cite(parse_part(raw), raw, "answer")  # noqa: E731
    latest = cite("arXiv:2401.01234 p.11")
    assert latest.verified and latest.paper_id == "2401.01234v2" and latest.number == 1
    v1 = cite("arXiv:2401.01234v1 p.3")
    assert v1.verified and v1.paper_id == "2401.01234v1" and v1.number == 2
    odd = cite("arXiv:2401.01234v7")
    assert odd.verified and odd.paper_id == "2401.01234v2" and "v7" in odd.note
    assert cite("arXiv:hep-th/9901001 p.3").verified  # page count from pages.json
    bad = cite("arXiv:hep-th/9901001 p.4")
    assert not bad.verified and "past the end" in bad.reason and bad.label == "U1"
    assert cite("arXiv:2312.00001v1 p.99").verified  # page count unknown: cannot refute
    assert cite("local:AB12CD34 p.4").verified
    assert not cite("local:ab12cd34 p.5").verified
    assert not cite("arXiv:2401.01234 p.5-3").verified
    unknown = cite("arXiv:2501.99999")
    again = cite("arXiv:2501.99999")
    assert unknown.label == again.label and not unknown.verified
    assert [n for n, _ in index.references()] == [1, 2, 3, 4, 5]
    assert [p["id"] for _, p in index.references()][:2] == ["2401.01234v2", "2401.01234v1"]
    entries = index.unverified()
    assert [e["label"] for e in entries] == ["U1", "U2", "U3", "U4"]


def test_rendering(tmp_path: Path) -> None:
    index = _index(tmp_path)
    occs = [index.cite(parse_part(r), r, "answer") for r in ("arXiv:2401.01234 p.3", "arXiv:2401.01234, p. 3-4",
                                                            "arXiv:9999.99999")]
    assert render_group(occs) == ("[[1, p.3](#ref-1); [1, pp.3-4](#ref-1); "
                                  "[citation removed: U1](#unverified-citations)]")


def test_bare_id_after_the_first_in_a_bracket() -> None:
    parts = split_bracket("arXiv:2401.01234; 2312.00001v1 p.2")
    assert parse_part(parts[1]) == Ref("arxiv", "2312.00001", "v1", 2, 2)


def test_citations_outside_brackets(tmp_path: Path) -> None:
    from agent_scientist.report.answer import render_answer

    index = _index(tmp_path)
    text = ("See arXiv:2501.99999. Also arXiv:2401.01234v2, [t](https://arxiv.org/abs/2312.00001v1) and "
            "https://arxiv.org/pdf/hep-th/9901001v1.pdf; not 2401.012345 nor arXiv:2401.012345.")
    out = render_answer(text, index, tmp_path, tmp_path)
    assert out == ("See [[citation removed: U1](#unverified-citations)]. Also [[1](#ref-1)], t [[2](#ref-2)] and "
                   "[[3](#ref-3)]; not 2401.012345 nor [[citation removed: U2](#unverified-citations)].")
    assert [o.verified for o in index.occurrences] == [False, True, True, True, False]
    assert render_answer("arXiv: the preprint server", index, tmp_path, tmp_path) == "arXiv: the preprint server"


def test_mixed_bracket_keeps_the_good_part(tmp_path: Path) -> None:
    from agent_scientist.report.answer import render_answer

    index = _index(tmp_path)
    out = render_answer("[Smith et al., 2020; arXiv:2401.01234 p.2] and [0, 1] and [see the appendix]", index,
                        tmp_path, tmp_path)
    assert out == ("[[citation removed: U1](#unverified-citations); [1, p.2](#ref-1)] and \\[0, 1\\] and "
                   "\\[see the appendix\\]")


def test_a_page_after_a_bare_id_is_verified_not_left_as_text(tmp_path: Path) -> None:
    from agent_scientist.report.answer import render_answer

    index = _index(tmp_path)
    text = ("Shown in arXiv:2401.01234 p.40, and arXiv:2401.01234v2, p. 3-4 (n-1a, arXiv:2401.01234v2 p.3); "
            "[see](https://arxiv.org/abs/2401.01234v2) [arXiv:2401.01234 p.5](https://arxiv.org/abs/2401.01234); "
            "arXiv:2401.01234 pretrained.")
    out = render_answer(text, index, tmp_path, tmp_path)
    assert out == ("Shown in [[citation removed: U1](#unverified-citations)], and [[1, pp.3-4](#ref-1)] "
                   "(n-1a, [[1, p.3](#ref-1)]); see [[1](#ref-1)] [[1, p.5](#ref-1)]; [[1](#ref-1)] pretrained.")
    assert "p.40" in index.unverified()[0]["raw"] and "past the end" in index.unverified()[0]["reason"]


def test_the_page_label_read_paper_prints_is_a_valid_citation(tmp_path: Path) -> None:
    # read_paper heads each page with "[arXiv:2401.01234v2 p.1/12]"; a model copies it as is
    assert parse_part("arXiv:2401.01234v2 p.1/12") == Ref("arxiv", "2401.01234", "v2", 1, 1)
    assert parse_part("local:ab12cd34, pp. 2-3/4") == Ref("local", "local:ab12cd34", "", 2, 3)
    index = _index(tmp_path)
    assert index.cite(parse_part("arXiv:2401.01234v2 p.12/12"), "x", "answer").verified
    assert not index.cite(parse_part("arXiv:2401.01234v2 p.13/12"), "y", "answer").verified


def test_adjacent_brackets_and_old_style_bare_ids(tmp_path: Path) -> None:
    from agent_scientist.report.answer import render_answer

    assert bracket_kind("hep-th/9901001 p.2") == "cite" and bracket_kind("hep-th/9901001v1") == "cite"
    assert bracket_kind("and/or") == "" and bracket_kind("hep-th/99") == ""
    index = _index(tmp_path)
    out = render_answer("[arXiv:2401.01234 p.3][hep-th/9901001 p.4] [hep-th/9901001 p.2] [click][1] [and/or]",
                        index, tmp_path, tmp_path)
    assert out == ("[[1, p.3](#ref-1)][[citation removed: U1](#unverified-citations)] [[2, p.2](#ref-2)] "
                   "\\[click\\]\\[1\\] \\[and/or\\]")


def test_every_citation_example_in_the_planner_prompts_verifies(tmp_path: Path) -> None:
    """The prompts teach the syntax; each example they show must be one the report accepts."""
    import re

    from agent_scientist.report.answer import render_answer
    root = Path(__file__).resolve().parent.parent
    texts = [p.read_text(encoding="utf-8") for p in sorted((root / "prompts").glob("*.yaml"))]
    examples = sorted({m for t in texts for m in re.findall(r"\[(?:arXiv|local):[^\]\n]*\]", t)})
    concrete = [e for e in examples if not re.search(r":ID\b|p\.N\b", e)]
    assert len(concrete) >= 4, examples
    ws = Workspace.create(tmp_path, "ws", "q")
    ids = {m for e in concrete for m in re.findall(r"(?:\d{4}\.\d{4,5}|local:[0-9a-z]+)", e)}
    for pid in sorted(ids):
        add_paper(ws, pid if pid.startswith("local:") else pid + "v2", "T", ["A B"], pages=12)
    index = index_for(ws)
    for example in concrete:
        out = render_answer(example, index, tmp_path, tmp_path)
        assert "citation removed" not in out and "#ref-" in out, (example, out)
    assert not index.unverified()
