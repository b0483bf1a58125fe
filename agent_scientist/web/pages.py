"""A cited page: its image (rendered once by pymupdf into the paper's folder), the boxes of a quote's words on
it, and the page text with the quote marked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_scientist.fsio import atomic_write_bytes

ZOOM = 1.5  # 108 dpi: readable, ~150 KB a page
IMAGES_DIR = "pages"  # papers/<folder>/pages/<n>.png
_WORD_RE = re.compile(r"\w+")


@dataclass
class Highlight:
    """Where a quote is on a page: boxes in PDF points, and the page's size."""

    width: float
    height: float
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    text: str = ""  # the page's words that matched, joined by spaces


def page_image(folder: Path, page: int) -> Path:
    """The PNG of page `page` (1-based) of folder/paper.pdf, rendered on first use and kept beside it."""
    target = folder / IMAGES_DIR / f"{page}.png"
    if target.is_file():
        return target
    import pymupdf

    with pymupdf.open(folder / "paper.pdf") as doc:
        if not 1 <= page <= doc.page_count:
            raise IndexError(f"page {page} is past the end ({doc.page_count} pages)")
        pix = doc[page - 1].get_pixmap(matrix=pymupdf.Matrix(ZOOM, ZOOM), alpha=False)
        atomic_write_bytes(target, pix.tobytes("png"))
    return target


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD_RE.findall(text)]


def find_quote(folder: Path, page: int, quote: str) -> Highlight | None:
    """The boxes of the quote's words, in order, on the page of folder/paper.pdf (None: no PDF or no page).

    Word boxes rather than `search_for`: a quote found by the review may cross lines, hyphenation and columns."""
    pdf = folder / "paper.pdf"
    if not pdf.is_file():
        return None
    import pymupdf

    with pymupdf.open(pdf) as doc:
        if not 1 <= page <= doc.page_count:
            return None
        p = doc[page - 1]
        found = Highlight(p.rect.width, p.rect.height)
        wanted = words(quote)
        if not wanted:
            return found
        # Each PDF word may hold several of ours ("e.g.," -> e, g): keep (token, box) pairs.
        tokens: list[tuple[str, tuple[float, float, float, float], int]] = []
        page_words = p.get_text("words", sort=True)
        for i, w in enumerate(page_words):
            for token in words(w[4]):
                tokens.append((token, (w[0], w[1], w[2], w[3]), i))
        match = _sequence(tokens, wanted)
        if match is None:
            return found
        chosen = tokens[match[0]:match[1]]
        seen: list[int] = []
        for _, box, i in chosen:
            if i not in seen:
                seen.append(i)
                found.boxes.append(box)
        found.text = _as_quoted(" ".join(str(page_words[i][4]) for i in seen), quote)
    return found


def _as_quoted(text: str, quote: str) -> str:
    """The page's words as the quote has them at its ends: punctuation the quote does not end with is dropped."""
    quote = quote.strip()
    if "- " not in quote:  # a word the line end split: "cali- bration" is the quote's "calibration"
        text = re.sub(r"(\w)- (\w)", r"\1\2", text)
    while text and not text[-1].isalnum() and not quote.endswith(text[-1]):
        text = text[:-1]
    while text and not text[0].isalnum() and not quote.startswith(text[0]):
        text = text[1:]
    return text


def _sequence(tokens: list[tuple[str, Any, int]], wanted: list[str]) -> tuple[int, int] | None:
    """(start, end) of the first run of tokens equal to `wanted`, joining a word split by a line-end hyphen."""
    flat = [t for t, _, _ in tokens]
    n = len(wanted)
    for start in range(len(flat)):
        if flat[start] != wanted[0] and not wanted[0].startswith(flat[start]):
            continue
        i, j = start, 0
        while i < len(flat) and j < n:
            if flat[i] == wanted[j]:
                i, j = i + 1, j + 1
            elif i + 1 < len(flat) and flat[i] + flat[i + 1] == wanted[j]:  # "cali-" "bration"
                i, j = i + 2, j + 1
            else:
                break
        if j == n:
            return start, i
    return None


def mark_text(text: str, quote: str) -> tuple[str, str, str] | None:
    """(before, quoted, after) of the page text, the quote found whatever the spacing, case and line-end hyphens."""
    wanted = words(quote)
    if not wanted:
        return None
    pattern = r"\W*?(?:-\s*)?".join("".join(re.escape(c) + r"(?:-\s+)?" for c in w[:-1]) + re.escape(w[-1])
                                   for w in wanted)
    m = re.search(pattern, text, re.I)
    if m is None:
        return None
    return text[:m.start()], text[m.start():m.end()], text[m.end():]
