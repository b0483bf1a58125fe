"""The one paper-id grammar (papers/ids.py), and every id form through read_paper, the report's citation
check and recall(source=...)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import pdfs

from agent_scientist.config import load_settings
from agent_scientist.fsio import atomic_write_json
from agent_scientist.memory import open_memory
from agent_scientist.memory.trim import identifiers
from agent_scientist.papers import ids
from agent_scientist.papers.citation_index import index_for
from agent_scientist.papers.citations import parse_part
from agent_scientist.papers.layout import folder_name, holds, paper_dir
from agent_scientist.papers.pdf import extract
from agent_scientist.papers.store import add_passages, store_paper
from agent_scientist.papers.tool import read
from agent_scientist.workspace import Workspace

S2 = "649def34f8be52c8b66281af98ae884c09aef38b"
# (what people and models type, the stored id, the citation label, the folder name)
TABLE = [
    (["2401.00001v2", "arXiv:2401.00001", "arxiv: 2401.00001v2", "https://arxiv.org/abs/2401.00001v2",
      "ARXIV:2401.00001V2"], "2401.00001v2", "arXiv:2401.00001v2", "2401.00001v2"),
    (["hep-th/9901001v1", "arXiv:hep-th/9901001", "https://arxiv.org/abs/hep-th/9901001v1"],
     "hep-th/9901001v1", "arXiv:hep-th/9901001v1", "hep-th_9901001v1"),
    (["math.GT/0309136v1", "arXiv:math.gt/0309136"], "math.GT/0309136v1", "arXiv:math.GT/0309136v1",
     "math.GT_0309136v1"),
    (["doi:10.1093/mind/lix.236.433", "DOI: 10.1093/MIND/LIX.236.433", "https://doi.org/10.1093/mind/lix.236.433"],
     "doi:10.1093/mind/lix.236.433", "doi:10.1093/mind/lix.236.433", "doi_10.1093_mind_lix.236.433-80e276d1"),
    ([f"s2:{S2}", f"S2:{S2.upper()}"], f"s2:{S2}", f"s2:{S2}", f"s2_{S2}"),
    (["local:abcdef12", "LOCAL:ABCDEF12"], "local:abcdef12", "local:abcdef12", "local_abcdef12"),
]
REFUSED = ["HEP-TH/9901001", "arXiv:Math.GT/0309136", "local:xyz123", "local:abc", "s2:1234", "doi:11.1000/x",
           "2401.1", "arXiv:2401.012345", "run 3", ""]


@pytest.mark.parametrize("forms, stored, label, folder", TABLE)
def test_grammar(forms, stored, label, folder) -> None:
    for form in forms:
        pid = ids.parse(form)
        assert pid is not None and pid.base.stored == ids.base_id(stored), form
        assert pid.stored in (stored, ids.base_id(stored)) and pid.label.endswith(pid.stored), form
    assert ids.citation_label(stored) == label
    assert folder_name(stored) == folder
    assert identifiers(f"as shown in {label} (p.3)") == [label]


@pytest.mark.parametrize("text", REFUSED)
def test_refused(text) -> None:
    assert ids.parse(text) is None
    with pytest.raises(ids.PaperIdError, match="Malformed paper id"):
        ids.parse_paper_id(text)


def test_doi_in_text_stops_at_punctuation() -> None:
    found = ids.find_ids("see [doi:10.1093/mind/lix.236.433 p.3; doi:10.1145/3292500.3330701, p.2]. Also "
                         "https://doi.org/10.1000/ab(c)d.")
    assert [p.stored for p in found] == ["doi:10.1093/mind/lix.236.433", "doi:10.1145/3292500.3330701",
                                         "doi:10.1000/ab(c)d"]


@pytest.fixture
def library(home: Path):
    """A workspace holding one paper of every id kind (4 pages each), with passages in the memory."""
    settings = load_settings({"home": str(home), "http_timeout": 1})
    ws = Workspace.create(home, "ids")
    memory = open_memory(ws, settings)
    for n, (_forms, stored, _label, _folder) in enumerate(TABLE):
        data = pdfs.make_paper(4, salt=f"kind{n}")
        extracted = extract(data, 50)
        store_paper(ws, {"id": stored, "source": ids.kind_of(stored), "title": f"Paper {n}", "authors": ["A"],
                         "year": 2020, "abstract": "Sparse widgets."}, data, extracted)
        assert not add_passages(memory, stored, extracted.pages)
    return ws, settings, memory


def test_every_form_reads_cites_and_recalls(library) -> None:
    ws, settings, memory = library
    index = index_for(ws)
    for forms, stored, label, _folder in TABLE:
        for form in forms:
            assert read(ws, settings, form).startswith(f"[{label} overview] Paper"), form
            assert read(ws, settings, form, page=2).startswith(f"[{label} p.2/4]"), form
            ok = index.cite(parse_part(f"{form} p.4"), form, "answer")
            assert ok.verified and ok.paper_id == stored, (form, ok.reason)
            past = index.cite(parse_part(f"{form} p.5"), form, "answer")
            assert not past.verified and "past the end" in past.reason
            hits = memory.recall("sparse widgets gadget accuracy", 3, "passage", form)
            assert hits and {h["source"] for h in hits} == {label}, form


def test_holds_finds_a_folder_exactly_or_any_version(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path, "holds")
    for pid in ("2401.00001v2", "hep-th/9901001v1", "doi:10.1093/mind/lix.236.433", "local:abcdef12"):
        atomic_write_json(paper_dir(ws, pid) / "meta.json", {"id": pid})
    for asked in ("arXiv:2401.00001", "2401.00001v2", "https://arxiv.org/abs/hep-th/9901001", "LOCAL:ABCDEF12",
                  "DOI: 10.1093/MIND/LIX.236.433"):
        assert holds(ws.papers_dir, asked), asked
    for asked in ("2401.00001v1", "2401.0000", "HEP-TH/9901001", "local:abcdef1", "doi:10.1093/mind"):
        assert not holds(ws.papers_dir, asked), asked


def test_pmcid_is_an_id_kind_citable_with_pages() -> None:
    from agent_scientist.papers import citations, ids
    from agent_scientist.papers.layout import folder_name

    pid = ids.parse("pmcid: pmc3320746")
    assert pid == ids.PaperId("pmcid", "PMC3320746") and pid.stored == pid.label == "pmcid:PMC3320746"
    assert ids.parse("PMC3320746") is None  # the prefix is needed
    assert ids.parse("pmcid:3320746") == pid  # PMC may be left out after the prefix (pubmed's grammar)
    assert ids.find_ids("as shown [pmcid:PMC3320746 p.4] and pmcid:PMC1x") == [pid]
    assert ids.aliases({"id": "doi:10.1000/x", "pmcid": "PMC3320746"}) == ["doi:10.1000/x", "pmcid:PMC3320746"]
    assert folder_name("pmcid:PMC3320746") == "pmcid_PMC3320746"
    ref = citations.parse_part("pmcid:PMC3320746 p.4-5")
    assert isinstance(ref, citations.Ref) and (ref.kind, ref.first_page, ref.last_page) == ("pmcid", 4, 5)
