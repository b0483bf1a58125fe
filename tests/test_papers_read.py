"""read_paper against a real loopback arXiv: overview, pages, passages, cache, and every bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import pdfs
from support.arxiv_server import ArxivServer

from agent_scientist.config import load_settings
from agent_scientist.contracts import ToolError
from agent_scientist.memory import open_memory
from agent_scientist.papers import visuals
from agent_scientist.papers.layout import page_count, paper_dir
from agent_scientist.papers.tool import find_paper, ingest_pdfs, read, search
from agent_scientist.workspace import Workspace


@pytest.fixture
def ws(home: Path) -> Workspace:
    return Workspace.create(home, "w")


@pytest.fixture
def s(home: Path, arxiv: ArxivServer):
    return load_settings({"home": str(home), "arxiv_api_url": arxiv.api_url, "arxiv_pdf_url": arxiv.pdf_url,
                          "arxiv_delay": 0, "http_timeout": 2, "pdf_max_mb": 1})


def files_under(ws: Workspace) -> list[str]:
    return sorted(str(p.relative_to(ws.papers_dir)) for p in ws.papers_dir.rglob("*")
                  if p.is_file() and ".search" not in p.parts)


def test_overview_shape(ws, s, arxiv) -> None:
    text = read(ws, s, "2401.00001")
    lines = text.splitlines()
    assert lines[0] == "[arXiv:2401.00001v2 overview] Sparse widgets improve gadget accuracy"
    assert "Authors: Ada Lovelace, Alan Turing" in text and "Pages: 4" in text and "2024-01-03" in text
    assert "Abstract: <<untrusted>>We show that sparse widgets improve gadget accuracy" in text
    assert "  2 Method (p.2)\n    2.1 Data (p.2)" in text
    assert f"p.3: {pdfs.FIGURE_CAPTION}" in text and f"p.3: {pdfs.TABLE_CAPTION}" in text
    assert "read_paper('2401.00001v2', page=N)" in text and len(text) <= s.read_chars + 200
    assert [r[0] for r in arxiv.requests] == ["api", "pdf"]
    meta = find_paper(ws, "2401.00001")
    assert meta["id"] == "2401.00001v2" and meta["pages"] == 4 and meta["source"] == "arxiv"
    assert meta["year"] == 2024 and meta["categories"] == ["cs.LG", "stat.ML"] and meta["file"] == "paper.pdf"
    assert page_count(lambda pid: paper_dir(ws, pid), find_paper(ws, "arXiv:2401.00001")) == 4
    visuals.ensure(paper_dir(ws, "2401.00001v2"))  # tables and figures: extracted in the background once
    assert files_under(ws) == ["2401.00001v2/figure-1.png", "2401.00001v2/meta.json", "2401.00001v2/pages.json",
                               "2401.00001v2/paper.pdf", "2401.00001v2/visuals.json"]


def test_page_and_passages(ws, s, arxiv) -> None:
    page = read(ws, s, "2401.00001v2", page=2)
    assert page.startswith("[arXiv:2401.00001v2 p.2/4]\n<<untrusted source=arXiv:2401.00001v2 p.2>>\n2 Method")
    assert pdfs.LIGATURE_REPAIRED in page and page.endswith("[next: read_paper('2401.00001v2', page=3)]")
    assert read(ws, s, "2401.00001v2", page=4).endswith("[last page]")
    found = read(ws, s, "2401.00001v2", query="hyphenated efficient information")
    assert found.startswith("[arXiv:2401.00001v2 passages for 'hyphenated efficient information']")
    assert re.search(r"^\(1\) p\.2: .*hyphenated across lines", found, re.M)
    assert "No passage matches" in read(ws, s, "2401.00001v2", query="xylophone")


def test_every_id_form_hits_the_same_cache(ws, s, arxiv) -> None:
    read(ws, s, "2401.00001")
    before = arxiv.count()
    for form in ("2401.00001v2", "arXiv:2401.00001", "arxiv:2401.00001v2", "https://arxiv.org/abs/2401.00001v2",
                 "http://arxiv.org/pdf/2401.00001v2.pdf", " [arXiv:2401.00001] "):
        assert read(ws, s, form, page=1).startswith("[arXiv:2401.00001v2 p.1/4]")
    assert arxiv.count() == before
    assert read(ws, s, "2401.00001v1").startswith("[arXiv:2401.00001v1 overview]")  # an older version
    assert "Pages: 2" in read(ws, s, "2401.00001v1")


def test_read_after_search_needs_only_the_pdf(ws, s, arxiv) -> None:
    search(ws, s, "ti:dense")
    read(ws, s, "2402.00002")
    assert [r[0] for r in arxiv.requests] == ["api", "pdf"]


def test_cached_paper_is_readable_offline(ws, s, arxiv) -> None:
    read(ws, s, "2402.00002")
    arxiv.stop()
    assert read(ws, s, "2402.00002", page=3).startswith("[arXiv:2402.00002v1 p.3/4]")
    with pytest.raises(ToolError, match=r"Could not fetch arXiv:2303.00003 \(connection to the arXiv API"):
        read(ws, s, "2303.00003")


def test_interrupted_store_reuses_the_downloaded_pdf(ws, s, arxiv) -> None:
    read(ws, s, "2402.00002v1")
    for name in ("meta.json", "pages.json"):
        (paper_dir(ws, "2402.00002v1") / name).unlink()
    read(ws, s, "2402.00002v1")
    assert [r[0] for r in arxiv.requests] == ["api", "pdf", "api"]


def test_answers_are_bounded(ws, s, arxiv) -> None:
    small = load_settings({**{k: str(getattr(s, k)) for k in ("arxiv_api_url", "arxiv_pdf_url", "home")},
                           "arxiv_delay": 0, "read_chars": 600})
    page = read(ws, small, "2401.00001", page=1)
    assert len(page) < 900 and re.search(r"page 1 continues for \d+ more characters", page)
    assert "query=" in page and "page=2" in page
    overview = read(ws, small, "2401.00001")
    assert len(overview) <= 800 and "Read a page" in overview
    passages = read(ws, small, "2401.00001", query="alpha omega zebra quasar")
    assert len(passages) < 1500 and passages.count(" …") >= 1


@pytest.mark.parametrize("page", [5, 99, -1])
def test_page_out_of_range(ws, s, arxiv, page) -> None:
    with pytest.raises(ToolError, match=r"out of range: arXiv:2401.00001v2 has 4 pages \(1-4\)"):
        read(ws, s, "2401.00001", page=page)


@pytest.mark.parametrize("bad", ["hello", "2401.1", "1234", "arXiv:", "local:zz", "https://example.org/abs/1"])
def test_malformed_ids(ws, s, arxiv, bad) -> None:
    with pytest.raises(ToolError, match="Malformed paper id"):
        read(ws, s, bad)
    assert arxiv.count() == 0


def test_unknown_and_withdrawn_papers(ws, s, arxiv) -> None:
    with pytest.raises(ToolError, match="arXiv has no paper 2499.99999"):
        read(ws, s, "2499.99999")
    with pytest.raises(ToolError, match=r"withdrawn by its authors .*read_paper\('2405.00010v1'\)"):
        read(ws, s, "2405.00010")
    with pytest.raises(ToolError, match="No local paper local:abcdef12"):
        read(ws, s, "local:abcdef12")
    assert arxiv.count("pdf") == 0 and files_under(ws) == []


@pytest.mark.parametrize("pid, message", [
    ("2405.00011v1", "HTML/XML page instead of a PDF"),
    ("2405.00012v1", "empty body instead of a PDF"),
    ("2405.00013v1", "corrupt PDF"),
    ("2405.00014v1", "encrypted with a password"),
    ("2405.00015v1", "the PDF has no pages"),
    ("2405.00016v1", "over the 1.0 MB cap; raise AGENT_SCIENTIST_PDF_MAX_MB"),
    ("2405.00017v1", "exceeds the 1.0 MB cap"),
    ("2405.00018v1", "dropped mid-answer"),
])
def test_bad_downloads_save_nothing(ws, s, arxiv, pid, message) -> None:
    with pytest.raises(ToolError) as caught:
        read(ws, s, pid)
    text = str(caught.value)
    assert message in text and "Nothing was saved" in text and "Title: " in text
    assert pid in text
    assert files_under(ws) == []
    assert find_paper(ws, pid) is None


def test_a_dropped_download_is_retried(ws, s, arxiv) -> None:
    arxiv.fail("pdf", "drop", "500")
    assert read(ws, s, "2402.00002v1").startswith("[arXiv:2402.00002v1 overview]")
    assert arxiv.count("pdf") == 3


def test_scanned_pdf_says_so(ws, s, arxiv, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no Tesseract: the pages stay unread, and the fix is named
    overview = read(ws, s, "2405.00019")
    assert "Scanned pages without a text layer, unreadable here: all" in overview
    assert "apt-get install tesseract-ocr" in overview
    assert "no text layer" in read(ws, s, "2405.00019", page=1)


def test_local_papers_read_like_arxiv_ones(ws, s, arxiv, tmp_path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.pdf").write_bytes(pdfs.make_paper(3, salt="local"))
    (tmp_path / "lib" / "bad.pdf").write_bytes(pdfs.make_corrupt())
    (tmp_path / "lib" / "notes.txt").write_text("not a pdf")
    added = ingest_pdfs(ws, s, [tmp_path / "lib"])
    assert len(added) == 2  # the .txt file is not a PDF and is not looked at
    good = next(a for a in added if "error" not in a)
    assert "corrupt PDF" in next(a for a in added if "error" in a)["error"]
    assert re.fullmatch(r"local:[0-9a-f]{8}", good["id"]) and good["source"] == "local"
    assert good["title"] == pdfs.TITLE and good["authors"] == ["Ada Lovelace", "Alan Turing"]
    assert good["year"] == 2023 and good["pages"] == 3 and good["original_path"].endswith("a.pdf")
    assert read(ws, s, good["id"]).startswith(f"[{good['id']} overview] {pdfs.TITLE}")
    assert read(ws, s, good["id"].upper().replace("LOCAL", "local"), page=3).startswith(f"[{good['id']} p.3/3]")
    again = ingest_pdfs(ws, s, [tmp_path / "lib" / "a.pdf"])
    assert again[0]["skipped"].startswith("already in the workspace") and again[0]["id"] == good["id"]
    assert arxiv.count() == 0


def test_passages_go_to_the_workspace_memory(ws, s, arxiv) -> None:
    memory = open_memory(ws, s)  # chromadb and the embedding model are hard dependencies: no skip
    read(ws, s, "2401.00001", memory=memory)
    assert memory.has_passages("2401.00001v2")
    found = read(ws, s, "2401.00001", query="efficient flow of information hyphenated", memory=memory)
    assert re.search(r"^\(\d\) p\.2(-\d)?: ", found, re.M)


def test_no_network_names_the_papers_that_stay_readable(ws, s, arxiv) -> None:
    read(ws, s, "2402.00002")
    search(ws, s, "ti:theory")  # 2303.00003 is known from the search, its PDF is not
    arxiv.stop()
    with pytest.raises(ToolError, match=r"arXiv:2401\.00001 .*no network.*stay readable: 2402\.00002v1;"):
        read(ws, s, "2401.00001")
    with pytest.raises(ToolError, match=r"PDF of arXiv:2303\.00003v1: .*Nothing was saved\. Papers already "
                                        r"cached stay readable: 2402\.00002v1\. Title: A theory of widgets"):
        read(ws, s, "2303.00003")
    assert read(ws, s, "2402.00002", query="omega harbor").startswith("[arXiv:2402.00002v1 passages")


def test_query_uses_memory_passages_when_memory_exists(ws, s, arxiv) -> None:
    """Words absent from the paper find nothing lexically, but the memory finds the passage by meaning."""
    memory = open_memory(ws, s)
    query = "diagram of precision against scale"
    assert "No passage matches" in read(ws, s, "2401.00001", query=query)  # lexical: no shared word
    found = read(ws, s, "2401.00001", query=query, memory=memory)
    assert re.search(r"^\(1\) p\.3: Figure 1: Accuracy of sparse widgets", found, re.M)


def test_lexical_passages_match_singular_and_plural(ws, s, arxiv) -> None:
    found = read(ws, s, "2401.00001", query="widget")  # the paper only says "widgets"
    assert "No passage matches" not in found and re.search(r"^\(1\) p\.\d: .*sparse widgets", found, re.M)
    assert "No passage matches" not in read(ws, s, "2401.00001", query="gadgets accuracies")


def test_a_failing_memory_search_is_said_and_logged_and_words_answer(ws, s, arxiv, caplog) -> None:
    import dataclasses

    memory = open_memory(ws, dataclasses.replace(s, embedding_model="no-such-provider/no-such-model"))
    found = read(ws, s, "2401.00001", query="sparse widgets", memory=memory)
    assert re.search(r"^\(1\) p\.\d: .*sparse widgets", found, re.M)  # the lexical ranking answers
    assert "[note: the memory search failed (MemoryUnavailable: " in found and "ranked by words instead]" in found
    logged = [r for r in caplog.records if "memory passage search for 2401.00001v" in r.getMessage()]
    assert logged and logged[0].exc_info  # with its traceback
