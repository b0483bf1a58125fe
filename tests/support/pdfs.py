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


# -- tables, figures and scans (issue 22) ------------------------------------------
# Each table: (caption, header rows, body rows, style); a header row given as a tuple of (text, span) pairs
# spans columns. Cells keep leading zeros, signs, `%` and decimals exactly as written.
VISUAL_TABLES = [
    ("Table 1: Accuracy of the \ufb01ve methods on the suite.", [["Method", "Acc", "F1", "Delta"]],
     [["Base", "3.30", "0.07", "-1.5%"], ["Sparse", "12.05", "007", "+2.0%"], ["Dense", "0.50", "", "+0.1%"]],
     "ruled"),
    ("Table 2. Runtime per seed, unruled.", [["Seed", "Time", "Memory"]],
     [["001", "4.20", "1.5"], ["002", "4.75", "1.6"], ["003", "5.00", "1.7"]], "unruled"),
    ("Table 3: Results with a spanning header.", [[("Model", 1), ("Accuracy", 2)], ["", "Top1", "Top5"]],
     [["Alpha", "71.20", "90.05"], ["Beta", "-0.30", "88.00"]], "ruled"),
]
VISUAL_FIGURES = [  # (caption, kind, page it is drawn on, caption on the next page?)
    ("Figure 1: Loss curve of the e\ufb03cient widget.", "vector", 1, False),
    ("Fig. 2. A raster heat map of the gadget.", "raster", 2, False),
    ("Figure 3: Curve whose caption sits on the next page.", "vector", 2, True),
]


def _cell_rows(header: list, body: list[list[str]]) -> list[list[tuple[str, int]]]:
    rows = []
    for row in [*header, *body]:
        rows.append([c if isinstance(c, tuple) else (c, 1) for c in row])
    return rows


def write_line(page: pymupdf.Page, point: tuple[float, float], text: str, fontsize: float = 9) -> None:
    """One line of text; a line with ligature glyphs is written in a font that has them (helv has not)."""
    if text.isascii():
        page.insert_text(point, text, fontsize=fontsize, fontname="helv")
        return
    writer = pymupdf.TextWriter(page.rect)
    writer.append(point, text, font=pymupdf.Font("cjk"), fontsize=fontsize)
    writer.write_text(page)


def draw_table(page: pymupdf.Page, top: float, caption: str, header: list, body: list[list[str]], style: str,
               left: float = 72, width: float = 360, row_h: float = 18) -> float:
    """Draw a captioned table at `top` (caption above it); ruled: every cell boxed; unruled: text only with
    a rule under the header. Returns the y below the table."""
    write_line(page, (left, top), caption)
    rows = _cell_rows(header, body)
    columns = max(sum(span for _t, span in row) for row in rows)
    col_w = width / columns
    y = top + 10
    for row in rows:
        x_col = 0
        for text, span in row:
            rect = pymupdf.Rect(left + x_col * col_w, y, left + (x_col + span) * col_w, y + row_h)
            if style == "ruled":
                page.draw_rect(rect, color=(0, 0, 0), width=0.6)
            if text:
                page.insert_text((rect.x0 + 4, rect.y1 - 5), text, fontsize=9, fontname="helv")
            x_col += span
        y += row_h
    return y + 12


def draw_vector_plot(page: pymupdf.Page, rect: pymupdf.Rect, label: str = "epoch") -> None:
    """A line plot made of vector strokes: axes, a curve, an axis label and a legend inside the frame."""
    shape = page.new_shape()
    shape.draw_line(rect.bl + (20, -20), rect.tl + (20, 10))
    shape.draw_line(rect.bl + (20, -20), rect.br + (-10, -20))
    points = [pymupdf.Point(rect.x0 + 20 + i * (rect.width - 40) / 12,
                            rect.y1 - 25 - (rect.height - 50) * (1 - 0.8 ** i)) for i in range(13)]
    shape.draw_polyline(points)
    shape.finish(color=(0, 0, 0.8), width=1.2)
    shape.commit()
    page.insert_text((rect.x0 + rect.width / 2 - 10, rect.y1 - 6), label, fontsize=7, fontname="helv")
    page.insert_text((rect.x1 - 60, rect.y0 + 14), "legend: loss", fontsize=7, fontname="helv")


def raster_png(width: int = 240, height: int = 140, noise: bool = False) -> bytes:
    """A small PNG heat map (no text in it); with `noise`, random pixels that PNG cannot compress."""
    if noise:
        rng = random.Random(3)
        samples = bytes(rng.randrange(256) for _ in range(width * height * 3))
        return pymupdf.Pixmap(pymupdf.csRGB, width, height, samples, False).tobytes("png")
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, width, height), False)
    for x in range(0, width, 4):
        for y in range(0, height, 4):
            value = (x * 255 // width, y * 255 // height, 128)
            pix.set_rect(pymupdf.IRect(x, y, x + 4, y + 4), value)
    return pix.tobytes("png")


def make_visual_paper(tables: list | None = None, figures: list | None = None, *, extra_pages: int = 0,
                      split_table: bool = True) -> bytes:
    """A paper with the given tables and figures (VISUAL_TABLES / VISUAL_FIGURES by default) at known pages:
    tables first on page 1 onwards, figures on the pages they name, one table split over two pages."""
    tables = VISUAL_TABLES if tables is None else tables
    figures = VISUAL_FIGURES if figures is None else figures
    doc = pymupdf.open()
    pages = max([1, *(f[2] + (1 if f[3] else 0) for f in figures)]) + extra_pages + 2
    for _ in range(pages):
        doc.new_page(width=612, height=792)
    body = "Body text of the paper talks about widgets and gadgets at some length. " * 3
    for page in doc:
        page.insert_textbox(pymupdf.Rect(72, 40, 540, 90), body, fontsize=9, fontname="helv")
    # figures in the upper half of their page, caption below (or at the top of the next page)
    for caption, kind, number, next_page in figures:
        page = doc[number - 1]
        taken = any(f[2] == number and f is not None and f[0] != caption and figures.index(f) < figures.index(
            (caption, kind, number, next_page)) for f in figures)
        top = 420 if taken else 100
        rect = pymupdf.Rect(100, top, 440, top + 200)
        if kind == "raster":
            page.insert_image(rect, stream=raster_png())
        else:
            draw_vector_plot(page, rect)
        if next_page:
            write_line(doc[number], (72, 110), caption)
        else:
            write_line(page, (72, rect.y1 + 16), caption)
    # tables on the pages after the figures: two per page
    first = max([0, *(f[2] + (1 if f[3] else 0) for f in figures)])
    while doc.page_count < first + len(tables) // 2 + 3:
        doc.new_page(width=612, height=792)
    for k, (caption, header, rows, style) in enumerate(tables):
        page = doc[first + k // 2]
        top = 140 if k % 2 == 0 else 440
        draw_table(page, top, caption, header, rows, style)
    if split_table:  # the last page holds a ruled table that continues on the next page
        last = doc.page_count - 2
        rows = [[f"r{i:02d}", f"{i * 1.25:.2f}", f"-{i}"] for i in range(1, 21)]
        bottom = draw_table(doc[last], 420, "Table 9: A long table over two pages.", [["Run", "Score", "Gap"]],
                            rows[:10], "ruled")
        assert bottom < 792
        draw_table(doc[last + 1], 120, "", [], rows[10:], "ruled")
    data = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data


OCR_TEXT = ("The quick brown fox jumps over the lazy dog while seventeen zebras graze "
            "near the harbor under a violet sky in early spring")


def make_ocr_page(dpi: int = 200) -> bytes:
    """A one-page scan: a page of plain text rendered to an image at `dpi` and put back without a text layer."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 400), OCR_TEXT, fontsize=14, fontname="helv")
    pix = page.get_pixmap(dpi=dpi)
    out = pymupdf.open()
    new = out.new_page(width=612, height=792)
    new.insert_image(new.rect, pixmap=pix)
    data = out.tobytes(garbage=3, deflate=True)
    doc.close()
    out.close()
    return data


# -- accents, abstracts and printed arXiv ids (issue 25) -------------------------------
# How TeX writes an accent: the spacing accent glyph, then the letter (`\v{s}` gives U+02C7 `s`); a cedilla after.
ACCENTED_TITLE = "Vortex Matter in Layered Superconductors"
ACCENTED_AUTHORS = "Zlatko Te\u02c7sanovi\u00b4c and Ren\u00b4e Franc\u00b8ois"
ACCENTED_ABSTRACT = ("We study the vortex lattice of a layered superconductor near its upper critical field. A "
                     "r\u00b4esum\u00b4e of the theory is given for samples from S\u02dcao Paulo and the cafe\u0301 "
                     "model. Our results don\u00b4t depend on the anisotropy; the code is at "
                     "http://www.example.edu/\u02dcvortex and the data in the appendix.")
FRONT_MATTER_ABSTRACT = ("The phase diagram of a layered superconductor is mapped out in a strong magnetic field. We "
                         "find that the vortex lattice melts well below the mean-field transition, and that the "
                         "melting line follows a power law in the reduced temperature. The liquid phase shows "
                         "short-range order over several lattice spacings. These results explain the resistive "
                         "transitions measured in recent experiments on cuprate films.")


def make_accented_paper(*, heading: bool = True, footer: str = "", body: str = "") -> bytes:
    """Page 1 of a TeX paper: accents as spacing glyphs before their letter, the abstract under an `Abstract`
    heading (or, `heading=False`, a REVTeX front matter: no heading, a PACS line, then `I. INTRODUCTION`)."""
    doc = pymupdf.open()
    cjk = pymupdf.Font("cjk")  # it has the spacing accents and combining marks
    page = doc.new_page(width=612, height=792)
    page.insert_font(fontname="cjk", fontbuffer=cjk.buffer)

    def text(y: float, value: str, size: float, height: float = 20) -> None:
        page.insert_textbox(pymupdf.Rect(72, y, 540, y + height), value, fontsize=size, fontname="cjk")

    text(72, ACCENTED_TITLE, 18, 36)
    text(112, ACCENTED_AUTHORS, 11)
    text(132, "Department of Physics, University of Examples", 9)
    if heading:
        text(160, "Abstract", 12)
        text(182, ACCENTED_ABSTRACT, 10, 80)
        text(270, "Keywords: vortices, superconductivity", 9)
        text(300, "1 Introduction", 12)
    else:
        text(160, FRONT_MATTER_ABSTRACT, 10, 90)
        text(256, "PACS numbers: 74.25.Qt, 74.72.-h", 9)
        text(290, "I. INTRODUCTION", 12)
    text(322, body or "Vortices were first seen by Moli`ere in clean films; the lattice is hexagonal.", 10, 60)
    if footer:
        text(700, footer, 8)
    doc.set_metadata({"title": "", "author": ""})
    data = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data
