"""PDF extraction on real generated PDFs: reading order, repairs, outline, captions, bad files."""

from __future__ import annotations

import re

import pymupdf
import pytest
from support import pdfs

from agent_scientist.papers.pdf import PdfError, clean_text, extract, heading_level, printed_ids


@pytest.fixture(scope="module")
def paper() -> bytes:
    return pdfs.make_paper(4)


def test_two_columns_read_left_then_right(paper: bytes) -> None:
    raw = pymupdf.open(stream=paper, filetype="pdf")[0].get_text()
    assert raw.index(pdfs.right_line(1, 1)) < raw.index(pdfs.left_line(1, 1))  # the trap is real
    got = extract(paper)
    for number, text in enumerate(got.pages, start=1):
        last_left = text.index(pdfs.left_line(number, 30))
        first_right = text.index(pdfs.right_line(number, 1) + " ")
        assert last_left < first_right
        assert text.index(pdfs.left_line(number, 1) + " ") < last_left
    first = got.pages[0]
    assert first.index(pdfs.TITLE) < first.index("Abstract.") < first.index(pdfs.left_line(1, 1))


def test_ligatures_and_end_of_line_hyphens_are_repaired(paper: bytes) -> None:
    raw = pymupdf.open(stream=paper, filetype="pdf")[1].get_text()
    assert "\ufb01rst" in raw and "infor-\n" in raw
    page = extract(paper).pages[1]
    assert pdfs.LIGATURE_REPAIRED in page
    assert "\ufb01" not in page and "\ufb03" not in page


def test_clean_text_rules() -> None:
    assert clean_text("e\ufb03cient opti-\nmization of\nthe state-of-the-art") == \
        "efficient optimization of the state-of-the-art"
    assert clean_text("Bayes-\nOptimal") == "Bayes- Optimal"  # a capital after the hyphen is a compound
    assert clean_text("a state-of-the-\nart model") == "a state-of-the-art model"
    assert clean_text("the \ufb01rst \ufb02oor") == "the first floor"


def test_outline_from_table_of_contents_and_captions(paper: bytes) -> None:
    got = extract(paper)
    assert [(o["title"], o["page"], o["level"]) for o in got.outline] == [
        ("1 Introduction", 1, 1), ("2 Method", 2, 1), ("2.1 Data", 2, 2), ("3 Results", 3, 1),
        ("4 Conclusion", 4, 1)]
    assert {"text": pdfs.FIGURE_CAPTION, "page": 3} in got.captions
    assert {"text": pdfs.TABLE_CAPTION, "page": 3} in got.captions
    assert got.title == pdfs.TITLE and got.authors == ["Ada Lovelace", "Alan Turing"] and got.year == 2023
    assert got.scanned_pages == [] and not got.scanned


def test_outline_detected_from_headings_without_toc() -> None:
    got = extract(pdfs.make_paper(3, toc=False))
    assert [(o["title"], o["page"]) for o in got.outline] == [
        ("1 Introduction", 1), ("2 Method", 2), ("3 Results", 3)]
    assert heading_level("3.2 Ablations") == 2
    assert heading_level("References") == 1
    assert heading_level("1 We propose a method that does many things and more.") == 0


def test_page_numbers_are_kept_and_page_cap_applies() -> None:
    got = extract(pdfs.make_paper(5, toc=False), max_pages=3)
    assert len(got.pages) == 3 and got.total_pages == 5
    assert pdfs.left_line(3, 1) in got.pages[2]
    assert not got.pages[0].rstrip().endswith("\n1")


def test_scanned_pages_are_reported() -> None:
    one = extract(pdfs.make_paper(3, scanned_page=2), ocr=False)
    assert one.scanned_pages == [2] and not one.scanned and one.ocr_pages == []
    assert one.pages[1].strip() == ""
    whole = extract(pdfs.make_scanned(2), ocr=False)
    assert whole.scanned and whole.scanned_pages == [1, 2]


def test_title_falls_back_to_largest_text_when_metadata_is_junk() -> None:
    doc = pymupdf.open(stream=pdfs.make_paper(1), filetype="pdf")
    for junk in ("untitled", "Microsoft Word - draft3.docx", ""):
        doc.set_metadata({"title": junk})
        assert extract(doc.tobytes()).title == pdfs.TITLE


@pytest.mark.parametrize("maker, message", [
    (pdfs.make_encrypted, "encrypted with a password"),
    (pdfs.make_corrupt, "corrupt PDF"),
    (pdfs.make_zero_pages, "no pages"),
    (lambda: b"<!DOCTYPE html><html></html>", "not a PDF"),
    (lambda: b"", "not a PDF"),
])
def test_bad_files_give_clear_errors(maker, message: str) -> None:
    with pytest.raises(PdfError, match=message):
        extract(maker())


def test_typeset_two_column_pages_read_in_order() -> None:
    """Paragraphs flow left column, right column, next page; centred page numbers do not split them."""
    got = extract(pdfs.make_typeset())
    text = "\n\n".join(got.pages)
    starts = [int(m) for m in re.findall(r"\bPara(\d+) ", text)]
    assert starts == sorted(starts) and len(starts) == 14
    for number, page in enumerate(got.pages, start=1):
        paragraphs = page.split("\n\n")
        assert f"\n\n{number}\n\n" not in page and paragraphs[-1] != str(number)
        assert paragraphs[0] == "Preprint. Under review."
    first, second = got.pages[0], got.pages[1]
    assert first.index(pdfs.TITLE) < first.index("Ada Lovelace") < first.index("1 Introduction") < \
        first.index("Para0 ")
    assert second.index(pdfs.FIGURE_CAPTION) < second.index("p4w61")  # the caption cuts the page, then columns
    assert text.index("Para4 ") < text.index("2 Method") < text.index("Para5 ")
    assert {"text": pdfs.FIGURE_CAPTION, "page": 2} in got.captions


def test_page_numbers_in_the_margin_are_dropped_wherever_they_sit(paper: bytes) -> None:
    """The generated paper's page number sits left of the middle, so it used to land between the columns."""
    for number, page in enumerate(extract(paper).pages, start=1):
        assert str(number) not in page.split("\n\n")


def test_a_number_inside_the_text_area_is_kept() -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_text((72, 100), "Results of the run are below.", fontsize=11)
    page.insert_text((100, 400), "42", fontsize=11)
    page.insert_text((72, 640), "17", fontsize=11)  # the last line of text is a number: it stays
    page.insert_text((303, 770), "1", fontsize=9)  # the page number in the bottom margin
    assert extract(doc.tobytes()).pages == ["Results of the run are below.\n\n42\n\n17"]


@pytest.mark.parametrize("text, expected", [
    ("arXiv:2401.01234v2 [cs.LG] 3 Jan 2024", ("2401.01234v2", "")),
    ("arXiv:math.gt/0309136v1 ... DOI: 10.1000/ABC.", ("math.GT/0309136v1", "10.1000/abc")),  # class upper case
    ("arXiv:HEP-TH/9901001 (not an id) https://doi.org/10.1145/3292500.3330701\"", ("", "10.1145/3292500.3330701")),
    ('footer "10.1093/mind/lix.236.433" and [10.1000/x]', ("", "10.1093/mind/lix.236.433")),  # no quote kept
    ("page 2401.01234 (a bare number, no stamp)", ("", "")),
])
def test_printed_ids_follow_the_id_grammar(text: str, expected: tuple[str, str]) -> None:
    assert printed_ids(text) == expected
