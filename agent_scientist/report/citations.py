"""Citations: parse the answer's `[arXiv:ID p.N]` syntax, verify against the workspace, number them.

Only papers held in the workspace (ws.papers()) can be cited; a page must exist in the paper.
Verified citations are numbered in order of first citation; the others get labels U1, U2, ...
so the report can remove them from the text with a visible marker and list them in an appendix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent_scientist.fsio import read_json

UNVERIFIED_ANCHOR = "unverified-citations"

_NEW = r"\d{4}\.\d{4,5}"
_OLD = r"[A-Za-z][A-Za-z-]*(?:\.[A-Za-z]{2})?/\d{7}"
ARXIV_ID = rf"(?P<base>{_NEW}|{_OLD})(?P<version>v\d+)?"
_PREFIX = r"(?:arxiv\s*:\s*|(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/)"
_ARXIV_RE = re.compile(rf"\s*{_PREFIX}{ARXIV_ID}(?:\.pdf)?/?(?!\w|\.\d)", re.I)
_BARE_RE = re.compile(rf"\s*{ARXIV_ID}(?!\w|\.\d|/)", re.I)  # inside a citation bracket after the first id
_LOCAL_RE = re.compile(r"\s*local\s*:\s*(?P<local>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)", re.I)
# "p.1/12" is how read_paper labels page 1 of 12: a model copying that label cites page 1.
_PAGES_RE = re.compile(r"^(?:pp?\.?|pages?)\s*(\d+)(?:\s*(?:-|–|—|to)+\s*(\d+))?(?:\s*/\s*\d+)?$", re.I)
_PAGE_LIKE_RE = re.compile(r"^(?:pp?\.|pages?\b)", re.I)
_LOCATOR_RE = re.compile(r"^[\w .,:§()'/-]{1,40}$")
_SPLIT_RE = re.compile(r"\s*;\s*|\s*,\s*(?=(?:arxiv\s*:|local\s*:|https?://|(?:www\.)?arxiv\.org/))", re.I)
# What makes a bracket a citation attempt: our syntax, an arXiv URL, a DOI, or an author-year reference.
_CITE_START_RE = re.compile(
    r"^\s*(?:arxiv\s*:|local\s*:|(?:https?://)?(?:www\.|export\.)?arxiv\.org/|\d{4}\.\d{4,5}(?:v\d+)?(?![\d.])"
    rf"|{_OLD}(?:v\d+)?(?![\w/]))", re.I
)
_FOREIGN_RE = re.compile(
    r"^\s*(?:doi\s*:.+|[A-Z][\w'’-]+(?:\s+(?:et\s+al\.?|and\s+[A-Z][\w'’-]+|&\s+[A-Z][\w'’-]+))?,?\s+"
    r"(?:19|20)\d\d[a-z]?(?:\s*[;,]\s*.+)?)\s*$"
)


@dataclass(frozen=True)
class Ref:
    """One cited item, normalised: `key` is the arXiv id without version, or `local:<id>` lower-cased."""

    kind: str  # "arxiv" or "local"
    key: str
    version: str = ""
    first_page: int | None = None
    last_page: int | None = None
    locator: str = ""  # a free locator such as "Table 2" when no page is given

    @property
    def display_id(self) -> str:
        return f"arXiv:{self.key}{self.version}" if self.kind == "arxiv" else self.key


def split_arxiv_id(text: str) -> tuple[str, str] | None:
    """(base id, version) of an arXiv id, prefixed or bare or as an arxiv.org URL; None if not one."""
    m = _ARXIV_RE.fullmatch(text.strip()) or re.fullmatch(rf"\s*{ARXIV_ID}\s*", text, re.I)
    if not m:
        return None
    base = m.group("base")
    if "/" in base:
        archive, number = base.split("/", 1)
        base = f"{archive.lower()}/{number}"
    return base, (m.group("version") or "").lower()


def paper_ref_key(paper_id: str) -> tuple[str, str, str] | None:
    """(kind, key, version) of a paper id as stored in meta.json or written in a note's source."""
    text = str(paper_id or "").strip()
    local = _LOCAL_RE.fullmatch(text)
    if local:
        return "local", "local:" + local.group("local").lower(), ""
    arx = split_arxiv_id(text)
    if arx:
        return "arxiv", arx[0], arx[1]
    return None


def parse_part(text: str) -> Ref | str:
    """Parse one citation (`arXiv:ID p.N`, `local:ID, p. 2-3`, an arXiv URL); a reason string if malformed."""
    m = _ARXIV_RE.match(text) or _BARE_RE.match(text)
    if m:
        split = split_arxiv_id(m.group(0))
        assert split is not None
        kind, key, version = "arxiv", split[0], split[1]
    else:
        m = _LOCAL_RE.match(text)
        if not m:
            return "not a paper id (write arXiv:ID or local:ID)"
        kind, key, version = "local", "local:" + m.group("local").lower(), ""
    rest = text[m.end():].strip().lstrip(",").strip()
    if not rest:
        return Ref(kind, key, version)
    pages = _PAGES_RE.match(rest)
    if pages:
        first = int(pages.group(1))
        last = int(pages.group(2)) if pages.group(2) else first
        return Ref(kind, key, version, first, last)
    if _PAGE_LIKE_RE.match(rest) or not _LOCATOR_RE.match(rest):
        return f"cannot read the page reference {rest[:40]!r} (write p.N or p. N-M)"
    return Ref(kind, key, version, locator=rest)


def bracket_kind(content: str) -> str:
    """'cite' for our syntax, 'foreign' for a DOI or author-year reference, '' for ordinary text."""
    if _CITE_START_RE.match(content):
        return "cite"
    if _FOREIGN_RE.match(content):
        return "foreign"
    return ""


def split_bracket(content: str) -> list[str]:
    """The citations in one bracket, separated by ';' (or ',' before another id)."""
    return [p for p in _SPLIT_RE.split(content.strip()) if p.strip()]


def _version_number(version: str) -> int:
    return int(version[1:]) if version else 0


@dataclass
class Occurrence:
    """One citation as written at one place, with its verification result."""

    raw: str
    location: str
    verified: bool
    paper_id: str = ""  # the workspace paper it resolved to
    number: int | None = None
    label: str = ""  # U1, U2... for unverified ones
    reason: str = ""
    pages: tuple[int, int] | None = None
    locator: str = ""
    note: str = ""  # e.g. a version mismatch that was accepted

    def as_dict(self) -> dict[str, Any]:
        return {
            "raw": self.raw, "location": self.location, "verified": self.verified,
            "paper_id": self.paper_id or None, "number": self.number, "label": self.label or None,
            "pages": list(self.pages) if self.pages else None, "locator": self.locator or None,
            "reason": self.reason or None, "note": self.note or None,
        }


@dataclass
class CitationIndex:
    """Verifies citations against the workspace's papers and hands out numbers in order of first use."""

    papers: list[dict[str, Any]]
    page_count: Callable[[dict[str, Any]], int] = lambda paper: int(paper.get("pages") or 0)
    occurrences: list[Occurrence] = field(default_factory=list)
    _numbers: dict[str, int] = field(default_factory=dict)
    _labels: dict[tuple[str, str], str] = field(default_factory=dict)
    _by_key: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for paper in sorted(self.papers, key=lambda p: str(p.get("id"))):
            parsed = paper_ref_key(str(paper.get("id", "")))
            if parsed:
                self._by_key.setdefault(parsed[1], []).append(paper)

    def _resolve(self, ref: Ref) -> tuple[dict[str, Any] | None, str, str]:
        """(paper, reason if not found, note) for a reference."""
        candidates = self._by_key.get(ref.key, [])
        if not candidates:
            return None, "the workspace holds no paper with this id", ""
        if ref.kind == "arxiv":
            versions = {paper_ref_key(p["id"])[2]: p for p in candidates}  # type: ignore[index]
            if ref.version and ref.version in versions:
                return versions[ref.version], "", ""
            best = versions[max(versions, key=_version_number)]
            note = f"cited as {ref.version}; the workspace holds {best['id']}" if ref.version else ""
            return best, "", note
        return candidates[0], "", ""

    def cite(self, ref: Ref | str, raw: str, location: str) -> Occurrence:
        """Verify one citation (a parsed Ref, or the reason it could not be parsed) and record it."""
        if isinstance(ref, str):
            return self._reject(raw, location, ref)
        paper, reason, note = self._resolve(ref)
        if paper is None:
            return self._reject(raw, location, reason)
        pages = None
        if ref.first_page is not None:
            first, last = ref.first_page, ref.last_page or ref.first_page
            count = self.page_count(paper)
            if first < 1 or last < first:
                return self._reject(raw, location, f"invalid page range {first}-{last}")
            if count and last > count:
                return self._reject(raw, location, f"page {last} is past the end of {paper['id']} ({count} pages)")
            pages = (first, last)
        pid = str(paper["id"])
        number = self._numbers.setdefault(pid, len(self._numbers) + 1)
        occ = Occurrence(raw, location, True, pid, number, pages=pages, locator=ref.locator, note=note)
        self.occurrences.append(occ)
        return occ

    def _reject(self, raw: str, location: str, reason: str) -> Occurrence:
        key = (" ".join(raw.split()).lower(), reason)
        label = self._labels.setdefault(key, f"U{len(self._labels) + 1}")
        occ = Occurrence(raw, location, False, label=label, reason=reason)
        self.occurrences.append(occ)
        return occ

    def reject(self, raw: str, location: str, reason: str) -> Occurrence:
        """Record a citation attempt that cannot be a workspace paper (a DOI, an author-year reference)."""
        return self._reject(raw, location, reason)

    def references(self) -> list[tuple[int, dict[str, Any]]]:
        """Cited workspace papers, numbered in order of first citation."""
        by_id = {str(p["id"]): p for p in self.papers}
        return [(n, by_id[pid]) for pid, n in sorted(self._numbers.items(), key=lambda kv: kv[1])]

    def unverified(self) -> list[dict[str, Any]]:
        """One entry per distinct unverified citation: label, raw text, reason, where it appeared."""
        entries: dict[str, dict[str, Any]] = {}
        for occ in self.occurrences:
            if occ.verified:
                continue
            entry = entries.setdefault(occ.label, {"label": occ.label, "raw": occ.raw, "reason": occ.reason,
                                                   "locations": []})
            if occ.location not in entry["locations"]:
                entry["locations"].append(occ.location)
        return sorted(entries.values(), key=lambda e: int(e["label"][1:]))


def render_occurrence(occ: Occurrence) -> str:
    """`[1, p.3](#ref-1)` for a verified citation, a visible removal marker for an unverified one."""
    if not occ.verified:
        return f"[citation removed: {occ.label}](#{UNVERIFIED_ANCHOR})"
    where = ""
    if occ.pages:
        first, last = occ.pages
        where = f", p.{first}" if first == last else f", pp.{first}-{last}"
    elif occ.locator:
        where = ", " + escape_inline(occ.locator)
    return f"[{occ.number}{where}](#ref-{occ.number})"


def render_group(occurrences: list[Occurrence]) -> str:
    """Several citations from one bracket: `[[1, p.3](#ref-1); [2](#ref-2)]`."""
    return "[" + "; ".join(render_occurrence(o) for o in occurrences) + "]"


_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>|#&!~])")


def escape_inline(text: Any) -> str:
    """Text from data (titles, notes, arguments) as inert one-line markdown."""
    return _INLINE_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def workspace_page_count(paper_dir: Callable[[str], Any]) -> Callable[[dict[str, Any]], int]:
    """Page count from meta "pages", else from pages.json when the meta was written before extraction."""
    cache: dict[str, int] = {}

    def count(paper: dict[str, Any]) -> int:
        pid = str(paper.get("id"))
        if pid not in cache:
            n = int(paper.get("pages") or 0)
            if not n:
                try:
                    n = len(read_json(paper_dir(pid) / "pages.json").get("pages") or [])
                except (OSError, ValueError, AttributeError):
                    n = 0
            cache[pid] = n
        return cache[pid]

    return count
