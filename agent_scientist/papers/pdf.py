"""PDF text extraction with pymupdf: pages in reading order, outline, captions, metadata.

Owns everything we learn from a PDF file: per-page text (two columns read left then right,
ligatures expanded, end-of-line hyphenation repaired), the outline (from the table of
contents, else detected headings), figure and table captions, scanned pages without a
text layer, and the title/authors/year a local PDF declares.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from agent_scientist.papers import ids
from agent_scientist.records import Caption, OutlineEntry

LIGATURES = str.maketrans({
    "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st",
    "\ufb06": "st", "\u00ad": "",
})
# A spacing diacritic (what TeX and many PDF writers emit for an accent glyph) -> the combining mark it stands for.
SPACING_ACCENTS = {"\u00b4": "\u0301", "\u02ca": "\u0301", "`": "\u0300", "\u02cb": "\u0300", "\u02c6": "\u0302",
                   "\u02dc": "\u0303", "\u00af": "\u0304", "\u02c9": "\u0304", "\u02d8": "\u0306",
                   "\u02d9": "\u0307", "\u00a8": "\u0308", "\u02da": "\u030a", "\u02dd": "\u030b",
                   "\u02c7": "\u030c", "\u00b8": "\u0327", "\u02db": "\u0328"}
_BELOW = {"\u00b8", "\u02db"}  # cedilla and ogonek: TeX writes them after their letter, the others before
_NOT_BEFORE_ACCENT = set("/:.=?&#~@_\\")  # `/˜name` is a URL's tilde, not an ñ
_ACCENT_OR_MARK = re.compile("[" + "".join(SPACING_ACCENTS) + "\u0300-\u036f]")
_HYPHEN_EOL = re.compile(r"[-\u2010][ \t]*\n\s*(?=[a-z])")
_WORD_END = re.compile(r"[A-Za-z-]*$")
_SPACES = re.compile(r"[ \t\u00a0]*\n[ \t\u00a0]*|[ \t\u00a0]{2,}")
_CAPTION = re.compile(r"^(Figure|Fig\.|Table|Tab\.)\s*(\d+|[IVX]+)\s*[:.|]", re.IGNORECASE)
_NUMBERED = re.compile(r"^((\d+(\.\d+)*)\.?|[IVX]+\.|[A-H]\.)\s+([A-Z][^\n]{1,80})$")
_KNOWN_HEADINGS = {
    "abstract", "introduction", "related work", "background", "method", "methods", "methodology",
    "approach", "experiments", "experimental setup", "results", "discussion", "conclusion",
    "conclusions", "references", "bibliography", "acknowledgments", "acknowledgements", "appendix",
    "limitations", "evaluation", "future work",
}
_PAGE_NUMBER = re.compile(r"^(page\s*)?\d{1,4}(\s*(of|/)\s*\d{1,4})?$", re.I)
SCANNED_MIN_CHARS = 20


class PdfError(Exception):
    """The bytes are not a usable PDF; the message says why."""


@dataclass
class Extracted:
    pages: list[str]
    outline: list[OutlineEntry]
    captions: list[Caption]
    scanned_pages: list[int] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)  # scanned pages whose text was read by Tesseract
    total_pages: int = 0  # in the file; len(pages) may be smaller under the page cap
    title: str = ""
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    abstract: str = ""  # from page 1 (or 2): after an "Abstract" heading, else the front matter's paragraph
    arxiv_id: str = ""  # printed in the PDF (the arXiv margin stamp, a footnote): the paper it is
    doi: str = ""

    @property
    def scanned(self) -> bool:
        """True when no page has a text layer (an image-only scan)."""
        return bool(self.pages) and len(self.scanned_pages) == len(self.pages)


def open_pdf(data: bytes) -> Any:
    """Open PDF bytes, refusing corrupt, password-protected and empty documents with a clear reason."""
    import pymupdf

    pymupdf.TOOLS.mupdf_display_errors(False)
    if not data[:1024].lstrip().startswith(b"%PDF-"):
        raise PdfError("not a PDF file (it does not start with %PDF-)")
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:  # pymupdf raises FileDataError, RuntimeError, ValueError...
        raise PdfError(f"corrupt PDF, cannot be opened ({str(exc)[:120]})") from None
    if doc.needs_pass and not doc.authenticate(""):
        doc.close()
        raise PdfError("the PDF is encrypted with a password; save an unprotected copy and add that")
    try:
        count = doc.page_count
    except Exception as exc:
        doc.close()
        raise PdfError(f"corrupt PDF, page tree unreadable ({str(exc)[:120]})") from None
    if count == 0:
        doc.close()
        raise PdfError("the PDF has no pages")
    return doc


def extract(data: bytes, max_pages: int = 500, ocr: bool = True) -> Extracted:
    """Extract up to `max_pages` pages of text plus outline, captions and declared metadata; scanned pages are
    read by OCR when `ocr` and Tesseract is installed."""
    doc = open_pdf(data)
    try:
        return _extract(doc, max_pages, ocr and ocr_available())
    except PdfError:
        raise
    except Exception as exc:
        raise PdfError(f"corrupt PDF, extraction failed ({str(exc)[:120]})") from None
    finally:
        doc.close()


def _extract(doc: Any, max_pages: int, ocr_on: bool = False) -> Extracted:
    import pymupdf

    flags = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP  # no ligature preservation
    total = doc.page_count
    pages: list[str] = []
    captions: list[Caption] = []
    headings: list[OutlineEntry] = []
    scanned: list[int] = []
    ocr: list[int] = []
    for number in range(min(total, max_pages)):
        page = doc[number]
        blocks = _drop_folios([b for b in page.get_text("blocks", flags=flags)
                               if b[6] == 0 and not _margin_stamp(b, page.rect)], page.rect)
        paragraphs = [_clean_block(b[4]) for b in order_blocks(blocks, page.rect)]
        paragraphs = _join_split_words([p for p in paragraphs if p])
        text = "\n\n".join(paragraphs)
        if len(text.strip()) < SCANNED_MIN_CHARS and page.get_images(full=False):
            scanned.append(number + 1)
            read = ocr_page(page) if ocr_on else None
            if read is not None:
                paragraphs, text = read.split("\n\n"), read
                ocr.append(number + 1)
        for para in paragraphs:
            if _CAPTION.match(para):
                captions.append(Caption(text=para[:300], page=number + 1))
            else:
                level = heading_level(para)
                if level:
                    headings.append(OutlineEntry(title=para, page=number + 1, level=level))
        pages.append(text)
    toc = _toc(doc)
    outline = toc or headings
    title, authors, year = _declared(doc, toc)
    arxiv_id, doi = printed_ids(doc[0].get_text("text") if total else "")
    return Extracted(pages=pages, outline=outline, captions=captions, scanned_pages=scanned, ocr_pages=ocr,
                     total_pages=total, title=title, authors=authors, year=year, abstract=find_abstract(pages),
                     arxiv_id=arxiv_id, doi=doi)


OCR_DPI = 200
OCR_FIX = "install Tesseract (Debian/Ubuntu: apt-get install tesseract-ocr tesseract-ocr-eng) and read the paper again"


def tessdata() -> str:
    """Tesseract's language folder ("" when Tesseract or its English data is missing): TESSDATA_PREFIX, else
    the folder the installed `tesseract` reports."""
    import os

    return _tessdata(os.environ.get("PATH", ""), os.environ.get("TESSDATA_PREFIX", ""))


@functools.lru_cache(maxsize=8)
def _tessdata(path: str, prefix: str) -> str:
    """tessdata() for one PATH and TESSDATA_PREFIX (asking `tesseract` costs a process, so once)."""
    import os
    import shutil

    if not shutil.which("tesseract", path=path):
        return ""
    folder = prefix
    if not folder:
        import pymupdf

        try:
            folder = pymupdf.get_tessdata() or ""
        except Exception:  # pymupdf raises when it cannot find the folder
            folder = ""
    return folder if folder and os.path.isfile(os.path.join(folder, "eng.traineddata")) else ""


def ocr_available() -> bool:
    """Whether scanned pages can be read: `tesseract` on PATH with its English data."""
    return bool(tessdata())


def ocr_page(page: Any) -> str | None:
    """A page's text read by Tesseract through pymupdf (paragraphs in reading order), None when OCR failed."""
    import pymupdf

    try:
        textpage = page.get_textpage_ocr(flags=pymupdf.TEXT_PRESERVE_WHITESPACE, language="eng", dpi=OCR_DPI,
                                         full=True, tessdata=tessdata())
        blocks = [b for b in page.get_text("blocks", textpage=textpage) if b[6] == 0]
    except Exception:  # Tesseract missing its data, or crashing on the image: the page stays scanned
        return None
    paragraphs = _join_split_words([p for p in (_clean_block(b[4]) for b in order_blocks(blocks, page.rect)) if p])
    return "\n\n".join(paragraphs)


def ocr_pdf_page(data: bytes, number: int) -> str | None:
    """OCR of one page (1-based) of PDF bytes: for a scanned page read again once Tesseract is installed."""
    doc = open_pdf(data)
    try:
        return ocr_page(doc[number - 1]) if 1 <= number <= doc.page_count else None
    finally:
        doc.close()


def _margin_stamp(block: tuple, rect: Any) -> bool:
    """arXiv's vertical stamp (`arXiv:1111.2011v2 [cond-mat] 2 Apr 2012`): a tall, narrow block in a side margin."""
    x0, y0, x1, y1 = block[:4]
    narrow = (x1 - x0) < rect.width * 0.06 and (y1 - y0) > rect.height * 0.15
    return narrow and (x1 < rect.x0 + rect.width * 0.12 or x0 > rect.x1 - rect.width * 0.12)


def _drop_folios(blocks: list, rect: Any) -> list:
    """Remove page numbers: a number alone in the top or bottom margin, or the lowest block of the page
    in its bottom 15%. Numbers higher up (table cells) are text and stay."""
    lowest = max(blocks, key=lambda b: b[3], default=None)
    margin = rect.height * 0.075  # inside the usual 1-inch margin (9% of 11 in)

    def folio(block: tuple) -> bool:
        if not _PAGE_NUMBER.match(block[4].strip()):
            return False
        return (block[1] >= rect.y1 - margin or block[3] <= rect.y0 + margin
                or (block is lowest and block[1] >= rect.y0 + rect.height * 0.85))

    return [b for b in blocks if not folio(b)]


def order_blocks(blocks: list, rect: Any) -> list:
    """Reading order: full-width blocks cut the page into bands; in each band, left column then right.

    A block centred on the page's middle (a page number, a short footer) spans both columns, so it is
    a cut too: otherwise it would be read between the left and the right column.
    """
    mid = rect.x0 + rect.width / 2
    slack = rect.width * 0.03
    full, columns = [], []
    for block in blocks:
        x0, _, x1 = block[0], block[1], block[2]
        centred = x0 < mid < x1 and abs((x0 + x1) / 2 - mid) < slack  # a page number, a centred footer
        if not centred and (x1 <= mid + slack or x0 >= mid - slack):
            columns.append(block)
        else:
            full.append(block)
    full.sort(key=lambda b: (b[1], b[0]))
    bands: list[list] = [[] for _ in range(len(full) + 1)]
    cuts = [b[1] for b in full]
    for block in columns:
        index = sum(1 for y in cuts if y <= block[1])
        bands[index].append(block)
    ordered: list = []
    for index, band in enumerate(bands):
        left = sorted((b for b in band if b[2] <= mid + slack), key=lambda b: (b[1], b[0]))
        right = sorted((b for b in band if b[2] > mid + slack), key=lambda b: (b[1], b[0]))
        ordered.extend(left + right)
        if index < len(full):
            ordered.append(full[index])
    return ordered


def compose_accents(text: str) -> str:
    """NFC text with spacing accents joined to their letter: `Te\u02c7sanovi\u00b4c` (TeX's accent-then-letter), `e\u00b4`
    and combining sequences become `Tešanović`, `é`; an accent that forms no single letter (`don\u00b4t`, `x\u00af`) stays."""
    if text.isascii() and "`" not in text:
        return text
    if not _ACCENT_OR_MARK.search(text):
        return unicodedata.normalize("NFC", text)
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char, nxt = text[i], text[i + 1] if i + 1 < n else ""
        prev = out[-1] if out else ""
        mark = SPACING_ACCENTS.get(char)
        if mark is None and unicodedata.combining(char) and not prev.isalpha() and _fits(nxt, char):
            out.append(nxt + char)  # a combining mark written before its letter
            i += 2
            continue
        if mark is None or (char == "`" and not _grave(text, i, prev)):
            out.append(char)
            i += 1
            continue
        below = char in _BELOW
        if not below and _fits(nxt, mark) and prev not in _NOT_BEFORE_ACCENT:
            out.append(unicodedata.normalize("NFC", nxt + mark))
            i += 2
        elif _fits(prev, mark) and (below or not nxt.isalpha()):
            out[-1] = unicodedata.normalize("NFC", prev + mark)
            i += 1
        elif below and _fits(nxt, mark):
            out.append(unicodedata.normalize("NFC", nxt + mark))
            i += 2
        else:
            out.append(char)
            i += 1
    return unicodedata.normalize("NFC", "".join(out))


def _fits(base: str, mark: str) -> bool:
    """Whether a letter and a combining mark make one precomposed letter (e + U+0301 = é; t + U+0301 does not)."""
    return len(base) == 1 and base.isalpha() and len(unicodedata.normalize("NFC", base + mark)) == 1


def _grave(text: str, i: int, prev: str) -> bool:
    """An ASCII backtick is a grave accent only before a vowel and outside ``quotes`` and `code`."""
    return text[i + 1:i + 2] in tuple("aeiouAEIOU") and prev != "`" and "`" not in text[i + 2:i + 3]


def _clean_block(text: str) -> str:
    text = compose_accents(text.translate(LIGATURES))
    text = _HYPHEN_EOL.sub(_unhyphenate, text)
    return _SPACES.sub(" ", text).strip()


def _unhyphenate(match: re.Match) -> str:
    """`exam-|ple` becomes `example`; a compound already hyphenated (`state-of-the-|art`) keeps its hyphen."""
    start = match.start()
    found = _WORD_END.search(match.string, max(0, start - 60), start)  # `$` at endpos: always a match
    head = found.group() if found else ""
    if not head or not head[-1].isalpha():
        return match.group()  # not a word broken at the line end ("- " as a dash, a minus...)
    return "-" if "-" in head else ""


def clean_text(text: str) -> str:
    """Ligatures expanded, end-of-line hyphens joined, lines of a paragraph joined (public for tests)."""
    return _clean_block(text)


def _join_split_words(paragraphs: list[str]) -> list[str]:
    """A word hyphenated across a column or block break is joined too."""
    out: list[str] = []
    for para in paragraphs:
        if out and re.search(r"[A-Za-z]-$", out[-1]) and para[:1].islower():
            compound = "-" in out[-1].rsplit(" ", 1)[-1][:-1]
            out[-1] = out[-1][:-1] + ("-" if compound else "") + para
        else:
            out.append(para)
    return out


def heading_level(text: str) -> int:
    """1, 2, 3... when a paragraph looks like a section heading, else 0."""
    if len(text) > 90 or "\n" in text:
        return 0
    if text.lower().rstrip(":. ") in _KNOWN_HEADINGS:
        return 1
    match = _NUMBERED.match(text)
    if not match or len(text.split()) > 12 or text.endswith((".", ",", ";")):
        return 0
    number = match.group(2)
    return number.count(".") + 1 if number else 1


def _toc(doc: Any) -> list[OutlineEntry]:
    try:
        toc = doc.get_toc(simple=True)
    except Exception:
        return []
    return [OutlineEntry(title=" ".join(compose_accents(str(t)).split()), page=int(p), level=int(lvl))
            for lvl, t, p in toc if str(t).strip()]


_JUNK_TITLES = re.compile(r"^(untitled|microsoft word|document\d*|\s*$)|\.(docx?|tex|dvi|pdf)$|^arxiv:", re.I)
_AUTHOR_NOISE = re.compile(r"[\d*†‡§¶∗,]+$|^[\d*†‡§¶∗]+")
_NOT_A_NAME = re.compile(r"(?i)universit|institut|department|school|college|laborator|@|\bcorp|\binc\b|abstract|"
                         r"\b(group|project|foundation|team|consortium|society|centre|center|version)\b")
_ABSTRACT_START = re.compile(r"(?i)^abstract\s*([.:\u2014-]|$)")


ABSTRACT_MAX_CHARS = 2000
ABSTRACT_MAX_PARAGRAPHS = 4
# `Abstract`, `ABSTRACT.`, `Abstract—We...`, `Abstract We...`; not `Abstract interpretation is...` (running text)
_ABSTRACT_HEAD = re.compile(r"^(?i:abstract)(?:\s*[.:\u2014\u2013-]\s*|\s+(?=[A-Z])|\s*$)")
_ABSTRACT_END = re.compile(r"(?i)^(keywords|key words|index terms|pacs\b|ccs concepts|subject class|msc\b|"
                           r"\*?\s*corresponding author)")
_SENTENCE_END = re.compile(r"[a-z\d)]{2}[.!?] +[A-Z]")


def find_abstract(pages: list[str]) -> str:
    """The abstract printed on page 1 or 2: the paragraphs after an `Abstract` heading up to the next heading,
    keywords line or caption (at most ABSTRACT_MAX_PARAGRAPHS, ABSTRACT_MAX_CHARS); without a heading (REVTeX), the
    first paragraph of several sentences above page 1's first section heading; "" when neither is there."""
    for page in pages[:2]:
        paragraphs = page.split("\n\n")
        for index, para in enumerate(paragraphs):
            head = _ABSTRACT_HEAD.match(para)
            if not head:
                continue
            kept = [para[head.end():].strip()] if para[head.end():].strip() else []
            for following in paragraphs[index + 1:]:
                if (heading_level(following) or _ABSTRACT_END.match(following) or _CAPTION.match(following)
                        or len(kept) >= ABSTRACT_MAX_PARAGRAPHS or sum(map(len, kept)) >= ABSTRACT_MAX_CHARS):
                    break
                kept.append(following)
            text = " ".join(" ".join(kept).split())
            if len(text) >= 80:
                return _bounded(text)
    paragraphs = pages[0].split("\n\n") if pages else []
    first_heading = next((i for i, p in enumerate(paragraphs) if heading_level(p)), None)
    for para in paragraphs[:first_heading or 0]:
        if len(para) >= 300 and len(_SENTENCE_END.findall(para)) >= 2 and not _CAPTION.match(para):
            return _bounded(" ".join(para.split()))
    return ""


def _bounded(text: str) -> str:
    """At most ABSTRACT_MAX_CHARS, cut after a sentence where one ends late enough, else at a word with "…"."""
    if len(text) <= ABSTRACT_MAX_CHARS:
        return text
    head = text[:ABSTRACT_MAX_CHARS]
    end = max(head.rfind(". "), head.rfind("? "), head.rfind("! "))
    return head[:end + 1] if end > ABSTRACT_MAX_CHARS // 2 else head.rsplit(" ", 1)[0] + " …"


def printed_ids(text: str) -> tuple[str, str]:
    """The arXiv id the page says it is (its stamp, or arXiv's DOI) and the DOI printed on it (a journal footer),
    "" where none; read with papers/ids.py's rules (the stored forms: subject class upper case, DOI lower case)."""
    arxiv = ids.printed_arxiv_id(text or "")
    return (arxiv.stored if arxiv else ""), ids.find_doi(text or "")


def _is_arxiv_stamp(line: str) -> bool:
    """A line that starts with a printed arXiv id (the margin stamp `arXiv:2401.01234v2 [cs.LG] ...`)."""
    return any(pid.kind == "arxiv" and start == 0 for pid, start, _end in ids.finditer(line, bare=False))


def _declared(doc: Any, toc: list[OutlineEntry] | None = None) -> tuple[str, list[str], int | None]:
    """Title, authors and year: the title from the metadata, the outline, or page 1's largest text, in that
    order of trust (margin stamps and running heads are never a title); authors from the metadata or page 1."""
    meta = doc.metadata or {}
    title = " ".join(compose_accents(meta.get("title") or "").split())
    first = doc[0] if doc.page_count else None
    lines = _page_lines(first) if first is not None else []
    if _JUNK_TITLES.search(title) or len(title) < 4:
        title = _outline_title(toc or []) or _largest_text(lines)
    author = compose_accents(meta.get("author") or "")
    authors = [a.strip() for a in re.split(r";|,|\band\b|&", author) if a.strip()]
    if not authors:
        authors = _authors_below(lines, title)
    year = None
    for key in ("creationDate", "modDate"):
        found = re.search(r"(19[5-9]\d|20\d\d)", meta.get(key) or "")
        if found:
            year = int(found.group(1))
            break
    return title[:300], authors[:50], year


def _outline_title(toc: list[OutlineEntry]) -> str:
    """The outline's first entry when it is a title, not a section (`1 Introduction`, `Abstract`)."""
    if not toc:
        return ""
    entry = toc[0]
    text = entry["title"]
    if entry.get("page", 1) > 2 or len(text) < 8 or heading_level(text) or _JUNK_TITLES.search(text):
        return ""
    if text.lower().strip(": ") in {"contents", "table of contents", "title page", "cover"}:
        return ""
    return text


def _page_lines(page: Any) -> list[tuple[float, str, float, float]]:
    """(font size, text, top, bottom) of each horizontal line in the page's body: no margin stamps, no
    running heads or footers (the top and bottom 6% of the page)."""
    try:
        blocks = page.get_text("dict")["blocks"]
    except Exception:
        return []
    rect = page.rect
    lines = []
    for block in blocks:
        for line in block.get("lines", []):
            if abs(line.get("dir", (1, 0))[1]) > 0.1:
                continue  # rotated: a margin stamp
            x0, y0, x1, y1 = line["bbox"]
            if y1 < rect.y0 + rect.height * 0.06 or y0 > rect.y1 - rect.height * 0.06:
                continue  # a running head or footer
            spans = [sp for sp in line["spans"] if sp["text"].strip()]
            if not spans:
                continue
            text = " ".join(compose_accents(" ".join(sp["text"] for sp in spans).translate(LIGATURES)).split())
            if _is_arxiv_stamp(text):
                continue
            lines.append((round(max(sp["size"] for sp in spans), 1), text, y0, y1))
    return lines


def _largest_text(lines: list[tuple[float, str, float, float]]) -> str:
    """The lines in the largest font of page 1's upper half, top to bottom."""
    if not lines:
        return ""
    upper = [ln for ln in lines if ln[2] <= max(ln[3] for ln in lines) * 0.6] or lines
    biggest = max(size for size, *_ in upper)
    words = [text for size, text, *_ in sorted(upper, key=lambda ln: ln[2]) if size == biggest]
    return " ".join(" ".join(words).split())[:300]


def _authors_below(lines: list[tuple[float, str, float, float]], title: str) -> list[str]:
    """Names in the lines just below the title on page 1, before the abstract (a heuristic; [] if unsure)."""
    ordered = sorted(lines, key=lambda ln: ln[2])
    start = next((i for i, ln in enumerate(ordered) if ln[1] and ln[1] in title), None)
    if start is None:
        return []
    title_size = ordered[start][0]
    names: list[str] = []
    for size, text, *_ in ordered[start + 1:start + 12]:
        if size >= title_size or text in title:
            continue
        if _ABSTRACT_START.match(text) or len(text) > 200:
            break
        text = re.sub(r"\(.*?\)|\S+@\S+", " ", text)
        found = []
        if not _NOT_A_NAME.search(text):
            for part in re.split(r",|\band\b|&|;|\s{2,}", text):
                name = _AUTHOR_NOISE.sub("", part.strip()).strip()
                words = name.split()
                if 2 <= len(words) <= 4 and all(w[:1].isupper() for w in words if len(w) > 3):
                    found.append(name)
        if names and not found:
            break  # the lines of names are over
        names.extend(found)
    return names[:50]
