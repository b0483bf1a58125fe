"""The quote check. The quote and the cited text are both reduced to their words and numbers: Unicode NFKC
(ligatures such as "ﬁ" become "fi"), soft hyphens dropped, a word hyphenated at a line end joined,
lower case, then every run of letters or of digits (a decimal point or comma between digits kept) is a
token; punctuation, quote marks and white space are ignored. The quote matches when its tokens, joined,
occur in the text's tokens, joined, starting and ending on token boundaries (so "86" never matches inside
"0.86"). A quote may skip text with "..." or "…": each fragment must then be found, in order. A quote needs
at least 4 tokens and at most 500 characters. A page-cited claim's quote must be on the cited pages; a
whole-paper citation's quote anywhere in the paper (the reviewer sees the paper's best passages for it).
"""

from __future__ import annotations

import re
import unicodedata

from agent_scientist.papers.layout import paper_dir, read_pages
from agent_scientist.workspace import Workspace

MIN_QUOTE_TOKENS = 4
MAX_QUOTE_CHARS = 500

_HYPHEN_RE = re.compile(r"(\w)[-\u2010\u2011]\s*\n\s*(\w)")
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")
_ELLIPSIS_RE = re.compile(r"\[?(?:\.\s*){3,}\]?|\[?…\]?")


def normalise_tokens(text: str) -> list[str]:
    """The words and numbers of a text, as the quote check compares them."""
    text = unicodedata.normalize("NFKC", str(text)).replace("\u00ad", "")
    text = _HYPHEN_RE.sub(r"\1\2", text).lower()
    return _TOKEN_RE.findall(text)


class _Haystack:
    """A text's tokens joined, with the offsets where tokens start and end."""

    def __init__(self, text: str):
        tokens = normalise_tokens(text)
        self.joined = "".join(tokens)
        self.starts, self.ends, pos = set(), set(), 0
        for token in tokens:
            self.starts.add(pos)
            pos += len(token)
            self.ends.add(pos)

    def find(self, tokens: list[str], after: int = 0) -> int:
        """End offset of the first aligned occurrence at or after `after`, or -1."""
        needle = "".join(tokens)
        pos = self.joined.find(needle, after)
        while pos != -1:
            if pos in self.starts and pos + len(needle) in self.ends:
                return pos + len(needle)
            pos = self.joined.find(needle, pos + 1)
        return -1


def quote_problem(quote: str) -> str:
    """Why a quote cannot be checked at all ('' if it can)."""
    if len(quote) > MAX_QUOTE_CHARS:
        return f"the quote is longer than {MAX_QUOTE_CHARS} characters"
    if len(normalise_tokens(quote)) < MIN_QUOTE_TOKENS:
        return f"the quote has fewer than {MIN_QUOTE_TOKENS} words"
    return ""


def find_quote(quote: str, pages: list[tuple[int, str]]) -> int | None:
    """The page (number) where the quote occurs, also across one page break; None if it is not there."""
    fragments = [normalise_tokens(f) for f in _ELLIPSIS_RE.split(quote)]
    fragments = [f for f in fragments if f]
    if not fragments or quote_problem(quote):
        return None
    candidates = [(n, text) for n, text in pages]
    candidates += [(n, a + "\n" + b) for (n, a), (_m, b) in zip(pages, pages[1:], strict=False)]
    for number, text in candidates:
        hay, pos = _Haystack(text), 0
        for fragment in fragments:
            pos = hay.find(fragment, pos)
            if pos == -1:
                break
        else:
            return number
    return None


def paper_pages(ws: Workspace, paper_id: str) -> list[str]:
    """The per-page text of a workspace paper ([] when it has none)."""
    try:
        return [str(p) for p in read_pages(paper_dir(ws, paper_id))["pages"]]
    except (OSError, ValueError):
        return []
