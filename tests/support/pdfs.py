"""Real PDFs for the tests, generated with pymupdf: papers with known text and every kind of bad file.

A paper has a full-width title and abstract, then two columns per page written RIGHT column first in
the content stream (so a naive extraction reads them in the wrong order), a table of contents, a
figure with a caption, a table caption, ligature glyphs and words hyphenated at line ends.
"""

from __future__ import annotations

import random

import pymupdf

TITLE = "Sparse Widgets Improve Gadget Accuracy"
AUTHORS = "Ada Lovelace, Alan Turing"
LIGATURE_LINES = ["The \ufb01rst e\ufb03cient \ufb02ow of infor-", "mation is hyphen-", "ated across lines."]
LIGATURE_REPAIRED = "The first efficient flow of information is hyphenated across lines."
FIGURE_CAPTION = "Figure 1: Accuracy of sparse widgets versus model size."
TABLE_CAPTION = "Table 1: Gadget accuracy on the benchmark suite."
TOC = [[1, "1 Introduction", 1], [1, "2 Method", 2], [2, "2.1 Data", 2], [1, "3 Results", 3],
       [1, "4 Conclusion", 4]]
TOPICS = ["zebra", "quasar", "lantern", "meadow", "harbor", "violet", "granite", "comet", "orchid", "falcon",
          "glacier", "saffron", "tundra", "marble", "cedar"]


def left_line(page: int, line: int) -> str:
    return f"Left column page {page} line {line} alpha {TOPICS[(page - 1) % len(TOPICS)]}"


def right_line(page: int, line: int) -> str:
    return f"Right column page {page} line {line} omega {TOPICS[(page - 1) % len(TOPICS)]}"


def make_paper(pages: int = 4, *, toc: bool = True, lines: int = 30, scanned_page: int = 0,
               title: str = TITLE, authors: str = AUTHORS, year: int = 2023, salt: str = "") -> bytes:
    """A two-column paper of `pages` pages; page `scanned_page` (1-based, 0 for none) is an image only."""
    doc = pymupdf.open()
    cjk = pymupdf.Font("cjk")
    for number in range(1, pages + 1):
        page = doc.new_page(width=612, height=792)
        top = 72
        if number == 1:
            page.insert_text((72, top), title, fontsize=18, fontname="helv")
            page.insert_text((72, top + 24), authors, fontsize=11, fontname="helv")
            page.insert_textbox(pymupdf.Rect(72, top + 40, 540, top + 110),
                                "Abstract. We show that sparse widgets improve gadget accuracy across the "
                                f"benchmark suite, measured over many runs and seeds {salt}.",
                                fontsize=10, fontname="helv")
            top += 130
        right = [right_line(number, i) for i in range(1, lines + 1)]
        left = [left_line(number, i) for i in range(1, lines + 1)]
        heading = {1: "1 Introduction", 2: "2 Method", 3: "3 Results", 4: "4 Conclusion"}.get(number)
        # Right column first in the content stream: extraction must reorder.
        page.insert_text((320, top), right, fontsize=9, fontname="helv", lineheight=1.3)
        if heading:
            page.insert_text((72, top), heading, fontsize=12, fontname="helv")
        page.insert_text((72, top + 24), left, fontsize=9, fontname="helv", lineheight=1.3)
        if number == 2:
            tw = pymupdf.TextWriter(page.rect)
            y = top + 24 + 9 * 1.3 * (len(left) + 2) + 20
            for k, text in enumerate(LIGATURE_LINES):
                tw.append((72, y + 12 * k), text, font=cjk, fontsize=9)
            tw.write_text(page)
        if number == 3:
            y = top + 24 + 9 * 1.3 * lines + 30
            page.draw_rect(pymupdf.Rect(72, y, 540, y + 80), color=(0, 0, 0), fill=(0.8, 0.8, 0.9))
            page.insert_text((72, y + 100), FIGURE_CAPTION, fontsize=9, fontname="helv")
            page.insert_text((72, y + 130), TABLE_CAPTION, fontsize=9, fontname="helv")
        page.insert_text((300, 760), str(number), fontsize=9, fontname="helv")
    if toc:
        doc.set_toc([entry for entry in TOC if entry[2] <= pages])
    doc.set_metadata({"title": title, "author": authors, "creationDate": f"D:{year}0415000000"})
    doc.subset_fonts()
    data = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return _rasterize_page(data, scanned_page) if scanned_page else data


def _rasterize_page(data: bytes, number: int) -> bytes:
    """Replace page `number` by a picture of itself: no text layer, like a scan."""
    src = pymupdf.open(stream=data, filetype="pdf")
    out = pymupdf.open()
    for index, page in enumerate(src, start=1):
        if index == number:
            pix = page.get_pixmap(dpi=50)
            new = out.new_page(width=page.rect.width, height=page.rect.height)
            new.insert_image(new.rect, pixmap=pix)
        else:
            out.insert_pdf(src, from_page=index - 1, to_page=index - 1)
    data = out.tobytes(garbage=3, deflate=True)
    src.close()
    out.close()
    return data


def make_scanned(pages: int = 2) -> bytes:
    """A PDF whose every page is an image: nothing to extract."""
    data = make_paper(pages, toc=False)
    for number in range(1, pages + 1):
        data = _rasterize_page(data, number)
    return data


def make_plain(text: str, pages: int = 1, title: str = "", author: str = "") -> bytes:
    """A one-column PDF with `text` on each page (for local library tests)."""
    doc = pymupdf.open()
    for _ in range(pages):
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(72, 72, 540, 720), text, fontsize=11, fontname="helv")
    doc.set_metadata({"title": title, "author": author})
    data = doc.tobytes()
    doc.close()
    return data


def make_encrypted() -> bytes:
    doc = pymupdf.open(stream=make_plain("secret text"), filetype="pdf")
    data = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner")
    doc.close()
    return data


def make_corrupt() -> bytes:
    rng = random.Random(7)
    return b"%PDF-1.7\n" + bytes(rng.randrange(256) for _ in range(4000))


def make_zero_pages() -> bytes:
    """A well-formed PDF whose page tree is empty (pymupdf refuses to save one, so it is written by hand)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_typeset(paragraphs: int = 14) -> bytes:
    """A paper laid out by pymupdf's Story like LaTeX would: justified paragraphs flowing down the left
    column then the right one, a full-width title block on page 1 and a full-width figure caption at the
    top of page 2, a running header and a centred page number on every page.

    Paragraph k starts with `Para<k>` so tests can check the reading order across columns and pages.
    """
    import io

    html = "<h2>1 Introduction</h2>" + "".join(
        f"<p>Para{k} " + " ".join(f"p{k}w{i}" for i in range(70)) + "</p>" + ("<h3>2 Method</h3>" if k == 4 else "")
        for k in range(paragraphs))
    story = pymupdf.Story(html=html)
    buffer = io.BytesIO()
    writer = pymupdf.DocumentWriter(buffer)
    more, number = True, 0
    while more:
        number += 1
        top = {1: 190, 2: 250}.get(number, 72)  # room for the title block, then for the figure
        device = writer.begin_page(pymupdf.paper_rect("letter"))
        for column in (pymupdf.Rect(54, top, 300, 740), pymupdf.Rect(312, top, 558, 740)):
            more, _ = story.place(column)
            story.draw(device)
            if not more:
                break
        writer.end_page()
    writer.close()
    doc = pymupdf.open(stream=buffer.getvalue(), filetype="pdf")
    for number, page in enumerate(doc, start=1):
        page.insert_text((250, 40), "Preprint. Under review.", fontsize=8, fontname="helv")
        page.insert_text((303, 770), str(number), fontsize=9, fontname="helv")
    doc[0].insert_textbox(pymupdf.Rect(54, 72, 558, 110), TITLE, fontsize=18, fontname="helv", align=1)
    doc[0].insert_textbox(pymupdf.Rect(206, 120, 406, 150), "Ada Lovelace", fontsize=11, fontname="helv",
                          align=1)
    doc[1].draw_rect(pymupdf.Rect(54, 72, 558, 200), color=(0, 0, 0), fill=(0.8, 0.8, 0.9))
    doc[1].insert_textbox(pymupdf.Rect(54, 210, 558, 240), FIGURE_CAPTION, fontsize=9, fontname="helv")
    data = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data


ARXIV_STAMP = "arXiv:1111.2011v2 [cond-mat.str-el] 2 Apr 2012"
RUNNING_HEAD = "Preprint. Under review."


def make_stamped_paper(*, title_in_outline: bool = False, doi: str = "", salt: str = "") -> bytes:
    """A paper as arXiv serves it: no title or author in the metadata, the vertical arXiv stamp in the left
    margin (in a larger font than the title), a running head; optionally the title as the outline's first entry."""
    doc = pymupdf.open(stream=make_paper(2, toc=False, salt=salt), filetype="pdf")
    for page in doc:
        page.insert_text((36, 560), ARXIV_STAMP, fontsize=20, fontname="tiro", rotate=90, color=(0.5, 0.5, 0.5))
        page.insert_text((72, 30), RUNNING_HEAD, fontsize=9, fontname="helv")
    doc[0].insert_text((72, 700), f"Affiliations: University of Examples. {('DOI: ' + doi) if doi else ''}",
                       fontsize=8, fontname="helv")
    toc = [[1, TITLE, 1], [1, "1 Introduction", 1], [1, "2 Method", 2]] if title_in_outline else []
    doc.set_toc(toc)
    doc.set_metadata({"title": "", "author": "", "creationDate": "D:20120402000000"})
    data = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data
