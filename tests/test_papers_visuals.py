"""Tables, figures and scanned pages of real generated PDFs, read through read_paper and cached per paper."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import get_type_hints

import pymupdf
import pytest
from support import pdfs

from agent_scientist.config import load_settings
from agent_scientist.contracts import ToolError
from agent_scientist.papers import visuals
from agent_scientist.papers.layout import paper_dir
from agent_scientist.papers.pdf import extract, ocr_available
from agent_scientist.papers.tool import ingest_pdfs, read
from agent_scientist.papers.views import grid_rows
from agent_scientist.records import Caption, FigureRecord, OutlineEntry, PageTexts, TableRecord, Visuals
from agent_scientist.workspace import Workspace


@pytest.fixture
def ws(home: Path) -> Workspace:
    return Workspace.create(home, "w")


@pytest.fixture
def s(home: Path):
    return load_settings({"home": str(home)})


@pytest.fixture
def paper(ws, s, tmp_path) -> str:
    path = tmp_path / "visual.pdf"
    path.write_bytes(pdfs.make_visual_paper())
    (added,) = ingest_pdfs(ws, s, [path])
    return added["id"]


def test_tables_keep_every_cell_exactly(ws, s, paper) -> None:
    text = read(ws, s, paper, table=1)
    assert text.startswith(f"[{paper} Table 1] p.4, 4 rows x 4 columns\n<<untrusted source={paper} Table 1>>\n"
                           "Table 1: Accuracy of the five methods")  # the paper's text is framed as data
    assert "| Dense | 0.50 |  | +0.1% |\n<<end untrusted>>" in text
    assert "| Method | Acc | F1 | Delta |\n|---|---|---|---|\n| Base | 3.30 | 0.07 | -1.5% |" in text
    assert "| Sparse | 12.05 | 007 | +2.0% |" in text and "| Dense | 0.50 |  | +0.1% |" in text
    assert f"[Cite as [{paper} tab.1].]" in text
    unruled = read(ws, s, paper, table=2)
    assert "| Seed | Time | Memory |" in unruled and "| 001 | 4.20 | 1.5 |" in unruled
    spanning = read(ws, s, paper, table=3)
    assert "| Model | Accuracy |  |\n|---|---|---|\n|  | Top1 | Top5 |\n| Alpha | 71.20 | 90.05 |" in spanning
    assert spanning.count("Accuracy") == 1 and "| Beta | -0.30 | 88.00 |" in spanning


def test_every_generated_cell_comes_back(ws, s, paper) -> None:
    found = visuals.ensure(paper_dir(ws, paper))
    by_number = {t["number"]: t for t in found["tables"]}
    for caption, header, body, _style in pdfs.VISUAL_TABLES:
        number = int(caption.split()[1].strip(":."))
        expected = [[c[0] if isinstance(c, tuple) else c for c in row] for row in [*header, *body]]
        got = [[c or "" for c in row] for row in by_number[number]["rows"]]
        assert [[c for c in r if c] for r in got] == [[c for c in r if c] for r in expected]


def test_a_table_over_two_pages_is_one_table_in_parts(ws, s, paper) -> None:
    whole = visuals.ensure(paper_dir(ws, paper))["tables"][-1]
    assert whole["number"] == 9 and whole["pages"] == [6, 7] and len(whole["rows"]) == 21
    assert whole["rows"][20] == ["r20", "25.00", "-20"]
    small = load_settings({"home": str(ws.root.parent), "read_chars": 400})
    first = read(ws, small, paper, table=9)
    assert first.startswith(f"[{paper} Table 9] p.6-7, 21 rows x 3 columns")
    assert "| Run | Score | Gap |" in first and f"next part: read_paper('{paper}', table=9, page=2)" in first
    second = read(ws, small, paper, table=9, page=2)
    assert "| Run | Score | Gap |" in second and "| r01 |" not in second
    parts, n = [], 1
    while True:
        part = read(ws, small, paper, table=9, page=n)
        parts.append(part)
        if "next part" not in part:
            break
        n += 1
    rows = [ln for p in parts for ln in p.splitlines() if ln.startswith("| r")]
    assert rows == [f"| r{i:02d} | {i * 1.25:.2f} | -{i} |" for i in range(1, 21)]
    with pytest.raises(ToolError, match="has 3 part|has [0-9]+ part"):
        read(ws, small, paper, table=9, page=n + 1)


def test_figures_raster_vector_and_caption_on_next_page(ws, s, paper) -> None:
    found = visuals.ensure(paper_dir(ws, paper))
    got = {(f["number"], f["page"], f["caption_page"], f["kind"]) for f in found["figures"]}
    assert got == {(1, 1, 1, "vector"), (2, 2, 2, "raster"), (3, 2, 3, "vector")}
    one = read(ws, s, paper, figure=1)
    assert one.startswith(f"[{paper} Figure 1] p.1, vector figure\n<<untrusted source={paper} Figure 1>>\n"
                          "Caption: Figure 1: Loss curve of the efficient")
    assert "Text inside the figure: legend: loss epoch" in one
    assert "Caption and text only" in one and f"Cite as [{paper} fig.1]." in one
    image = ws.root / one.split("Image file: ")[1].splitlines()[0]
    assert image.is_file() and image.parent == paper_dir(ws, paper)
    pix = pymupdf.Pixmap(str(image))
    assert max(pix.width, pix.height) <= visuals.MAX_SIDE and image.stat().st_size <= visuals.MAX_BYTES
    assert "Fig. 2. A raster heat map" in read(ws, s, paper, figure=2)
    assert "p.2 (caption on p.3)" in read(ws, s, paper, figure=3)
    with pytest.raises(ToolError, match="has no figure 7.*its figures: 1, 2, 3"):
        read(ws, s, paper, figure=7)
    with pytest.raises(ToolError, match="has no table 4.*its tables: 1, 2, 3, 9"):
        read(ws, s, paper, table=4)


def test_big_figures_are_rendered_within_bounds(tmp_path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=2000, height=2600)
    page.insert_image(pymupdf.Rect(50, 50, 1950, 1900), stream=pdfs.raster_png(1200, 1100, noise=True))
    page.insert_text((50, 1930), "Figure 1: A huge noisy image.", fontsize=12)
    found = visuals.extract_visuals(doc.tobytes(), tmp_path)
    (figure,) = found["figures"]
    assert max(figure["size"]) <= visuals.MAX_SIDE and (tmp_path / figure["image"]).stat().st_size <= visuals.MAX_BYTES


def test_extraction_runs_once_in_the_background_and_lists_what_is_where(ws, s, paper) -> None:
    folder = paper_dir(ws, paper)
    assert visuals.cached(folder) is None  # adding a paper extracts its text only
    read(ws, s, paper, page=4)  # the first read starts the extraction, without waiting for it
    visuals.ensure(folder)
    stamp = (folder / visuals.FILE).stat().st_mtime_ns
    page = read(ws, s, paper, page=4)
    assert page.splitlines()[1] == "[on this page: Table 1, Table 2; read one with table=N or figure=N]"
    overview = read(ws, s, paper)
    assert "Table 3 (p.5): Table 3: Results with a spanning header." in overview
    assert "Table 9 (p.6-7)" in overview and "Figure 3 (p.2): Figure 3: Curve whose caption" in overview
    assert f"read_paper('{paper}', figure=N)" in overview
    read(ws, s, paper, figure=2)
    assert (folder / visuals.FILE).stat().st_mtime_ns == stamp  # never extracted twice


def test_a_one_shot_read_starts_no_extraction_it_would_not_finish(ws, s, paper, cli) -> None:
    """`papers read` exits at once: a background extraction would be killed mid-way at every read."""
    import threading

    folder = paper_dir(ws, paper)
    read(ws, s, paper, page=4, background=False)
    assert not [t for t in threading.enumerate() if t.name == f"visuals-{folder.name}"]
    assert visuals.cached(folder) is None
    assert "Table 3 (p.5)" not in cli("papers", "read", paper, "--name", "w").stdout
    assert visuals.cached(folder) is None  # the command did not start it either
    table = cli("papers", "read", paper, "--table", "1", "--name", "w")  # asked for: extracted once, waited for
    assert table.returncode == 0 and visuals.cached(folder) is not None
    assert "Table 3 (p.5)" in cli("papers", "read", paper, "--name", "w").stdout


def test_visuals_and_pages_json_hold_only_keys_their_records_name(ws, s, paper, tmp_path) -> None:
    folder = paper_dir(ws, paper)
    visuals.ensure(folder)
    found = json.loads((folder / visuals.FILE).read_text())
    assert set(found) == set(get_type_hints(Visuals)) - {"error"} and found["tables"] and found["figures"]
    assert all(set(t) == set(get_type_hints(TableRecord)) for t in found["tables"])
    assert all(set(f) == set(get_type_hints(FigureRecord)) for f in found["figures"])  # image and size: rendered
    loose = visuals.extract_visuals((folder / "paper.pdf").read_bytes())  # no folder: no PNG, no image key
    assert all(set(f) == set(get_type_hints(FigureRecord)) - {"image", "size"} for f in loose["figures"])
    assert set(visuals.ensure(tmp_path)) == set(get_type_hints(Visuals))  # no PDF: the error says so
    pages = json.loads((folder / "pages.json").read_text())
    assert set(pages) <= set(get_type_hints(PageTexts)) and pages["pages"] and pages["captions"]
    assert all(set(c) == set(get_type_hints(Caption)) for c in pages["captions"])
    assert all(set(o) == set(get_type_hints(OutlineEntry)) for o in pages["outline"])


def test_a_pages_json_that_is_not_an_object_is_unreadable_with_the_fix(ws, s, paper) -> None:
    (paper_dir(ws, paper) / "pages.json").write_text("[]\n")  # valid JSON, not what store_paper writes
    with pytest.raises(ToolError, match="unreadable .* read it again"):
        read(ws, s, paper, page=1)


def test_grid_escapes_pipes_and_pads_short_rows() -> None:
    assert grid_rows({"rows": [["a|b", "c"], ["1"]]}) == ["| a\\|b | c |", "|---|---|", "| 1 |  |"]


def test_captions_in_ligatures_and_both_styles() -> None:
    assert visuals.caption_kind("Fig. 2. The \ufb01rst curve") == ("figure", 2)
    assert visuals.caption_kind("Figure 12: x") == ("figure", 12)
    assert visuals.caption_kind("Table 3: y") == ("table", 3)
    assert visuals.caption_kind("Figure 2 shows that") is None
    assert visuals.nfkc("e\ufb03cient \ufb02ow") == "efficient flow"


def test_ocr_reads_a_scanned_page(ws, s, tmp_path) -> None:
    if not ocr_available():
        assert os.environ.get("CI") != "true", "CI must have Tesseract: .ci/run installs tesseract-ocr"
        pytest.skip("Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng)")
    got = extract(pdfs.make_ocr_page(200))
    assert got.scanned_pages == [1] and got.ocr_pages == [1]
    words = pdfs.OCR_TEXT.lower().split()
    read_words = set(got.pages[0].lower().split())
    assert sum(w in read_words for w in words) / len(words) >= 0.9
    path = tmp_path / "scan.pdf"
    path.write_bytes(pdfs.make_ocr_page(200))
    (added,) = ingest_pdfs(ws, s, [path])
    page = read(ws, s, added["id"], page=1)
    assert page.startswith(f"[{added['id']} p.1/1] (OCR text of a scanned page)") and "zebras" in page
    assert "Scanned pages read by OCR" in read(ws, s, added["id"])


def test_scanned_page_is_read_once_tesseract_arrives(ws, s, tmp_path, monkeypatch) -> None:
    if not ocr_available():
        assert os.environ.get("CI") != "true", "CI must have Tesseract: .ci/run installs tesseract-ocr"
        pytest.skip("Tesseract is not installed")
    path = tmp_path / "scan.pdf"
    path.write_bytes(pdfs.make_ocr_page(200))
    real_path = os.environ["PATH"]
    monkeypatch.setenv("PATH", "/nonexistent")
    (added,) = ingest_pdfs(ws, s, [path])
    assert "Scanned pages without a text layer, unreadable here: all" in read(ws, s, added["id"])
    assert "no OCR is available" in read(ws, s, added["id"], page=1)
    monkeypatch.setenv("PATH", real_path)
    assert shutil.which("tesseract")
    assert "zebras" in read(ws, s, added["id"], page=1)
    assert json.loads((paper_dir(ws, added["id"]) / "pages.json").read_text())["ocr_pages"] == [1]
