"""The one citation grammar: groups, locators, ids cited in prose, and the normal form of a source.

Built on papers/ids.py (the one id grammar): every id kind ids.py knows is citable, bare or prefixed or as a
URL, and a new kind there is citable here with no change. Forms:

  group     `[arXiv:2401.01234 p.3; doi:10.1000/xyz]`, `[2401.01234, 2402.01234]` (two refs: `;` always
            separates, `,` separates when an id follows it)
  pages     `p.3`, `p. 3`, `pp. 3-4`, `pages 3–4`, `p.3/12` (read_paper's label of page 3 of 12)
  figures   `fig.3`, `Fig. 3`, `figure 3`; tables `tab.2`, `Table 2`: alone or with a page, in any order
  other     a free locator (`§2.1`, `Sec. 4`), kept as text; a malformed page (`p.x`) makes the ref unreadable
  prose     an id with a prefix or a URL (`arXiv:ID`, `doi:10.x/y`, `s2:...`, `https://arxiv.org/abs/ID`),
            with the locators written right after it; a bare number in running text is not a citation

`source_key` is the normal form evals compare gold sources with: `arxiv:<base id>`, `doi:<doi>`, `s2:<id>`,
`local:<id>` (arXiv's own DOI is the arXiv id), `file:<name>.pdf`, "" for an id-like text ids.py refuses,
else the lower-cased text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from agent_scientist.papers import ids

_DASH = r"\s*(?:--?|–|—|to)\s*"
_PAGE = rf"(?:pp?\.?|pages?)\s*(\d+)(?:{_DASH}(\d+))?(?:\s*/\s*\d+)?(?![\w/])"
_FIGURE = r"(?:fig(?:ure)?s?\.?)\s*(\d+)(?!\w)"
_TABLE = r"(?:tab(?:le)?s?\.?)\s*(\d+)(?!\w)"
_LOCATOR_RE = re.compile(rf"(?:{_PAGE})|(?:{_FIGURE})|(?:{_TABLE})", re.I)
_SEP_RE = re.compile(r"\s*[,;]?\s*")
_PAGE_LIKE_RE = re.compile(r"^(?:pp?\.|pages?\b)", re.I)
_FREE_RE = re.compile(r"^[\w .,:§()'/-]{1,40}$")
# A locator as written after an id in prose: group-free, to embed.
_PROSE_LOCATOR = (r"(?:(?:pp?\.\s*|pp?(?=\d)|pages?\s+)\d+(?:\s*[-–—]\s*\d+)?(?:\s*/\s*\d+)?"
                  r"|(?:fig(?:ure)?s?\.?|tab(?:le)?s?\.?)\s*\d+)(?!\w)")
# An arXiv citation attempt that ids.py refuses (`arXiv:2401.0x`): still a citation, shown as unverified.
_ATTEMPT = (r"\barxiv:\s?(?:\d[\w./-]*\w|[a-z][a-z-]*(?:\.[a-z]{2})?/[\w.-]*\w)"
            r"|(?:https?://)?(?:www\.)?arxiv\.org/(?:abs|pdf)/[\w./-]*\w")
# An id cited in prose, with the locators after it (no named groups: answer.py embeds it).
PROSE_PATTERN = (rf"(?:(?:{ids.PROSE_PATTERN})|(?:{_ATTEMPT}))"
                 rf"(?:,?\s*{_PROSE_LOCATOR}(?:\s*,?\s*{_PROSE_LOCATOR})*)?")
PROSE_RE = re.compile(PROSE_PATTERN, re.I)
# An author-year reference: a citation attempt the workspace cannot back.
_FOREIGN_RE = re.compile(
    r"^\s*(?:[A-Z][\w'’-]+(?:\s+(?:et\s+al\.?|and\s+[A-Z][\w'’-]+|&\s+[A-Z][\w'’-]+))?,?\s+"
    r"(?:19|20)\d\d[a-z]?(?:\s*[;,]\s*.+)?)\s*$"
)


@dataclass(frozen=True)
class Ref:
    """One cited item, normalised (papers/ids.py): `key` is the arXiv id without version, or the prefixed
    `doi:`/`s2:`/`local:` id, lower-cased; pages, figure and table as cited (None where not given)."""

    kind: str  # a kind of ids.KINDS
    key: str
    version: str = ""
    first_page: int | None = None
    last_page: int | None = None
    locator: str = ""  # a free locator such as "§2.1" when it is none of page, figure, table
    figure: int | None = None
    table: int | None = None

    @property
    def display_id(self) -> str:
        return f"arXiv:{self.key}{self.version}" if self.kind == "arxiv" else self.key

    @property
    def source_key(self) -> str:
        """The normal form evals compare with (see `source_key`)."""
        return f"arxiv:{self.key}" if self.kind == "arxiv" else self.key


def ref_key(pid: ids.PaperId) -> tuple[str, str, str]:
    """(kind, key, version) of an id as citations compare it: arXiv's DOI is the arXiv id."""
    pid = pid.canonical
    if pid.kind == "arxiv":
        return "arxiv", pid.key, f"v{pid.version}" if pid.version else ""
    return pid.kind, pid.key, ""


def paper_ref_key(paper_id: str) -> tuple[str, str, str] | None:
    """(kind, key, version) of a paper id as stored in meta.json or written in a note's source."""
    pid = ids.parse(paper_id)
    return ref_key(pid) if pid else None


def parse_locators(rest: str) -> dict[str, int | None] | None:
    """Pages, figure and table of a locator text made only of those (any order, `,` or spaces between), as
    Ref's field names; None when anything else is in it."""
    found: dict[str, int | None] = {}
    pos = 0
    while pos < len(rest):
        m = _LOCATOR_RE.match(rest, pos)
        if m is None:
            return None
        if m.group(1):
            if "first_page" in found:
                return None
            found["first_page"] = int(m.group(1))
            found["last_page"] = int(m.group(2)) if m.group(2) else int(m.group(1))
        elif m.group(3):
            found["figure"] = int(m.group(3))
        else:
            found["table"] = int(m.group(4))
        sep = _SEP_RE.match(rest, m.end())
        pos = sep.end() if sep else m.end()
    return found


def parse_part(text: str) -> Ref | str:
    """Parse one citation (`arXiv:ID p.N`, `doi:10.x/y, p. 2-3`, `2401.01234 fig.3`, an arXiv URL); a reason
    string if malformed."""
    found = ids.match_at(text)
    if found is None:
        return f"not a paper id (write {ids.CITE_FORMS})"
    kind, key, version = ref_key(found[0])
    rest = re.sub(r"(?<=\d)[.,;]+$", "", text[found[1]:].strip().lstrip(",").strip())
    if not rest:
        return Ref(kind, key, version)
    located = parse_locators(rest)
    if located is not None:
        return Ref(kind, key, version, **located)  # type: ignore[arg-type]  # parse_locators gives Ref's fields
    if _PAGE_LIKE_RE.match(rest) or not _FREE_RE.match(rest):
        return f"cannot read the page reference {rest[:40]!r} (write p.N or p. N-M)"
    return Ref(kind, key, version, locator=rest)


def bracket_kind(content: str) -> str:
    """'cite' for an id of any kind (papers/ids.py), 'foreign' for an author-year reference, '' for ordinary text."""
    if ids.PREFIX_RE.match(content) or ids.match_at(content):
        return "cite"
    if _FOREIGN_RE.match(content):
        return "foreign"
    return ""


def split_group(content: str) -> list[str]:
    """The citations in one bracket: separated by `;`, or by `,` when an id (any form) follows it."""
    parts: list[str] = []
    for chunk in re.split(r"\s*;\s*", content.strip()):
        start = 0
        for comma in re.finditer(",", chunk):
            after = comma.end()
            if ids.PREFIX_RE.match(chunk, after) or ids.match_at(chunk, after):
                parts.append(chunk[start:comma.start()])
                start = after
        parts.append(chunk[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_group(content: str) -> list[Ref | str]:
    """Every citation of a bracket's content, parsed (a reason string for each unreadable one)."""
    return [parse_part(part) for part in split_group(content)]


def find_cited(text: str) -> list[tuple[int, int, str]]:
    """(start, end, raw) of each id cited in prose, with the locators written after it."""
    out = []
    for m in PROSE_RE.finditer(text or ""):
        raw = m.group(0).rstrip(".,;")
        out.append((m.start(), m.start() + len(raw), raw))
    return out


def source_key(text: str) -> str:
    """One normal form for a gold source or a paper id: `arxiv:<base>`, `doi:<doi>`, `s2:<id>`, `local:<id>`,
    `file:<name>.pdf`; "" for a prefixed id ids.py refuses; other text is compared as written, lower-cased."""
    text = str(text or "").strip()
    found = ids.match_at(f"doi:{text}" if re.match(r"10\.\d", text) else text)
    if found is not None:
        kind, key, _version = ref_key(found[0])
        return f"arxiv:{key}" if kind == "arxiv" else key
    if ids.PREFIX_RE.match(text):
        return ""  # written as an id but not one ids.py accepts (`arXiv:HEP-TH/9901001`): it names no paper
    low = text.lower()
    if low.endswith(".pdf"):
        return "file:" + Path(low).name
    return low
