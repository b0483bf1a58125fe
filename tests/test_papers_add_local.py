"""`papers add` of a local PDF (issue 25, item 7): accents as TeX writes them composed, the abstract read from
page 1, and a PDF of an arXiv paper kept as one paper (its local id, the arXiv id an alias) whichever of the two
arrives first. PDFs are generated with pymupdf; arXiv is the loopback server of tests/support."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from support.arxiv_server import ArxivServer, entry
from support.pdfs import (
    ACCENTED_TITLE,
    FRONT_MATTER_ABSTRACT,
    TITLE,
    make_accented_paper,
    make_stamped_paper,
)

from agent_scientist.config import load_settings
from agent_scientist.papers.pdf import compose_accents, extract, find_abstract, printed_ids
from agent_scientist.papers.store import find_paper
from agent_scientist.papers.tool import ingest_pdfs, read, search
from agent_scientist.workspace import Workspace


@pytest.mark.parametrize("raw, composed", [
    ("Zlatko Te\u02c7sanovi\u00b4c", "Zlatko Te\u0161anovi\u0107"),  # TeX: the accent, then its letter
    ("R\u00b4esum\u00b4e", "R\u00e9sum\u00e9"),
    ("cafe\u00b4 au lait", "caf\u00e9 au lait"),  # after its letter at a word's end
    ("cafe\u0301 \u0301e", "caf\u00e9 \u00e9"),  # combining marks, also one written before its letter
    ("Franc\u00b8ois, Dvo\u02c7r\u00b4ak, \u00a8uber, S\u02dcao, Moli`ere, `a la", "Fran\u00e7ois, Dvo\u0159\u00e1k, "
     "\u00fcber, S\u00e3o, Moli\u00e8re, \u00e0 la"),
    # real text keeps what is not an accent: no single letter, a URL's tilde, quotes and code in backticks
    ("don\u00b4t, x\u00af, http://x.edu/\u02dcname, ``quoted'', `code`, a^b", "don\u00b4t, x\u00af, "
     "http://x.edu/\u02dcname, ``quoted'', `code`, a^b"),
    ("plain ASCII text, 3 < 4", "plain ASCII text, 3 < 4"),
])
def test_spacing_accents_are_joined_to_their_letter(raw: str, composed: str) -> None:
    assert compose_accents(raw) == composed
    assert unicodedata.is_normalized("NFC", compose_accents(raw))


def test_a_tex_pdf_gives_composed_title_authors_abstract_and_pages() -> None:
    found = extract(make_accented_paper())
    assert found.title == ACCENTED_TITLE
    assert found.authors == ["Zlatko Te\u0161anovi\u0107", "Ren\u00e9 Fran\u00e7ois"]
    assert found.abstract.startswith("We study the vortex lattice of a layered superconductor")
    assert "A r\u00e9sum\u00e9 of the theory is given for samples from S\u00e3o Paulo and the caf\u00e9 model." \
        in found.abstract
    assert found.abstract.endswith("the data in the appendix.")  # the keywords line and section 1 are not in it
    assert "Keywords" not in found.abstract and "Introduction" not in found.abstract
    assert "Moli\u00e8re" in found.pages[0] and "Te\u0161anovi\u0107" in found.pages[0]
    assert not any(ch in found.pages[0] for ch in "\u02c7\u00b8\u0301")


def test_abstract_without_a_heading_is_the_front_matter_paragraph() -> None:
    """REVTeX prints no `Abstract` heading: the paragraph of sentences above the first section heading is it."""
    assert extract(make_accented_paper(heading=False)).abstract == FRONT_MATTER_ABSTRACT


@pytest.mark.parametrize("page, expected", [
    ("Title\n\nAbstract\u2014We show that widgets help. They do so on every suite we tried, by a wide margin "
     "indeed.\n\nIndex Terms\u2014widgets\n\nI. INTRODUCTION\n\nText.", "We show that widgets help. They do so on "
     "every suite we tried, by a wide margin indeed."),
    ("Title\n\nABSTRACT We show that widgets help on every suite we tried, by a wide margin, in all runs.\n\n"
     "it goes on here after a block break.\n\n2 Method\n\nText.", "We show that widgets help on every suite we "
     "tried, by a wide margin, in all runs. it goes on here after a block break."),
    ("Abstract interpretation is a theory of sound approximation of the semantics of programs, widely used.", ""),
    ("Title\n\nShort front matter without any heading at all.", ""),
])
def test_abstract_rules(page: str, expected: str) -> None:
    assert find_abstract([page]) == expected


def test_a_long_abstract_is_bounded_at_a_sentence() -> None:
    sentence = "Widgets improve gadgets on every benchmark we ran. "
    found = find_abstract(["Abstract\n\n" + sentence * 100 + "\n\n1 Introduction"])
    assert 1000 < len(found) <= 2000 and found.endswith("we ran.")


@pytest.mark.parametrize("text, expected", [
    ("Page 1 says: as shown in arXiv:1706.03762, attention helps.", ("", "")),  # a cited paper, not this one
    ("Preprint\nhttps://doi.org/10.48550/arXiv.2101.00001", ("2101.00001", "10.48550/arxiv.2101.00001")),
    ("DOI: 10.1103/PhysRevB.85.1\narXiv:2101.00001v2 [cs.LG] 3 Jan 2021", ("2101.00001v2", "10.1103/physrevb.85.1")),
])
def test_the_paper_a_page_says_it_is(text: str, expected: tuple[str, str]) -> None:
    assert printed_ids(text) == expected


@pytest.fixture
def arxiv_online(home: Path):
    server = ArxivServer([entry("1111.2011v2", TITLE, authors=("Ada Lovelace", "Alan Turing"),
                                pdf=make_stamped_paper())]).start()
    yield server
    server.stop()


def _settings(home: Path, server: ArxivServer):
    return load_settings({"home": str(home), "arxiv_api_url": server.api_url, "arxiv_pdf_url": server.pdf_url,
                          "arxiv_delay": 0, "paper_sources": "arxiv"})


def test_a_pdf_added_first_is_the_paper_its_arxiv_id_reads_later(home: Path, tmp_path: Path, arxiv_online) -> None:
    settings = _settings(home, arxiv_online)
    ws = Workspace.open_or_create(home, "lib")
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(make_stamped_paper())
    [added] = ingest_pdfs(ws, settings, [pdf])
    assert added["id"].startswith("local:") and added["arxiv_id"] == "1111.2011v2"
    assert "(metadata from arXiv)" in added["note"]
    for asked in ("1111.2011v2", "1111.2011", "arXiv:1111.2011v2"):  # the arXiv id, later: the same paper
        assert find_paper(ws, asked)["id"] == added["id"]
    text = read(ws, settings, "1111.2011v2")
    assert text.startswith(f"[{added['id']} overview]") and "arXiv: 1111.2011v2" in text
    assert arxiv_online.count("pdf") == 0  # never downloaded again
    assert [m["id"] for m in ws.papers()] == [added["id"]]  # one paper, not a local and an arXiv copy
    results = [r for r in search(ws, settings, "sparse widgets", source="arxiv") if "id" in r]
    rows = [r for r in results if TITLE in r["title"]]
    assert len(rows) == 1 and rows[0]["id"] == added["id"] and rows[0]["also"] == "1111.2011v2"
    assert rows[0]["in_workspace"] is True


def test_a_pdf_of_an_arxiv_paper_already_read_is_not_a_second_paper(home: Path, tmp_path: Path,
                                                                    arxiv_online) -> None:
    settings = _settings(home, arxiv_online)
    ws = Workspace.open_or_create(home, "lib")
    read(ws, settings, "1111.2011")  # read by id first: downloaded as 1111.2011v2
    pdf = tmp_path / "my copy.pdf"
    pdf.write_bytes(make_stamped_paper(salt="the user's own copy"))
    [skipped] = ingest_pdfs(ws, settings, [pdf])
    assert skipped["id"] == "1111.2011v2"
    assert skipped["skipped"] == "it is arXiv:1111.2011v2, already in the workspace as 1111.2011v2"
    assert [m["id"] for m in ws.papers()] == ["1111.2011v2"]


def test_a_long_title_ends_with_an_ellipsis_when_cut(tmp_path: Path, cli) -> None:
    import pymupdf
    from support.pdfs import make_paper

    doc = pymupdf.open(stream=make_paper(1), filetype="pdf")
    title = "A Very Long Title About Widgets " * 5
    doc.set_metadata({"title": title})
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(doc.tobytes())
    added = cli("papers", "add", str(pdf), "--name", "lib")
    assert added.returncode == 0, added.stderr
    line = next(ln for ln in added.stdout.splitlines() if ln.startswith("added "))
    assert line.endswith(" ".join(title.split())[:89] + "\u2026")


def test_a_pdf_for_a_paper_known_only_by_its_abstract_is_added_and_read(home: Path, tmp_path: Path) -> None:
    """A paper the indexes know (with its arXiv id) but whose full text was nowhere: the user's PDF gives the pages."""
    from agent_scientist.papers.store import paper_meta, store_abstract_only

    settings = load_settings({"home": str(home)})
    ws = Workspace.open_or_create(home, "lib")
    store_abstract_only(ws, paper_meta("doi:10.1103/physrevb.85.1", "crossref",
                                       {"title": TITLE, "arxiv_id": "1111.2011v2"}))
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(make_stamped_paper())
    [added] = ingest_pdfs(ws, settings, [pdf])
    assert added["id"].startswith("local:") and "skipped" not in added
    assert find_paper(ws, "arXiv:1111.2011v2")["id"] == added["id"]  # the one with pages


def test_an_arxiv_doi_on_page_one_links_the_pdf(home: Path, tmp_path: Path, cli) -> None:
    pdf = tmp_path / "p.pdf"
    pdf.write_bytes(make_accented_paper(footer="Published as https://doi.org/10.48550/arXiv.2101.00001"))
    added = cli("papers", "add", str(pdf), "--name", "lib")  # offline: arXiv is a closed port
    assert added.returncode == 0, added.stderr
    assert "by Zlatko Te\u0161anovi\u0107, Ren\u00e9 Fran\u00e7ois" in added.stdout
    assert "linked to arXiv:2101.00001 (arXiv unreachable" in added.stdout
    [paper] = json.loads(cli("papers", "list", "--name", "lib", "--json").stdout)
    assert paper["arxiv_id"] == "2101.00001" and paper["title"] == ACCENTED_TITLE
    assert paper["abstract"].startswith("We study the vortex lattice")
    page = cli("papers", "read", "arXiv:2101.00001", "--page", "1", "--name", "lib")
    assert page.returncode == 0 and "Te\u0161anovi\u0107" in page.stdout and paper["id"] in page.stdout
