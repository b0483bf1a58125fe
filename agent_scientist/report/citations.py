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

from agent_scientist.papers import ids

UNVERIFIED_ANCHOR = "unverified-citations"

# "p.1/12" is how read_paper labels page 1 of 12: a model copying that label cites page 1.
_PAGES_RE = re.compile(r"^(?:pp?\.?|pages?)\s*(\d+)(?:\s*(?:-|–|—|to)+\s*(\d+))?(?:\s*/\s*\d+)?$", re.I)
_PAGE_LIKE_RE = re.compile(r"^(?:pp?\.|pages?\b)", re.I)
_LOCATOR_RE = re.compile(r"^[\w .,:§()'/-]{1,40}$")
_SPLIT_RE = re.compile(r"\s*;\s*|\s*,\s*(?=(?:arxiv\s*:|local\s*:|doi\s*:|s2\s*:|https?://|(?:www\.)?arxiv\.org/))",
                       re.I)
# An author-year reference: a citation attempt the workspace cannot back.
_FOREIGN_RE = re.compile(
    r"^\s*(?:[A-Z][\w'’-]+(?:\s+(?:et\s+al\.?|and\s+[A-Z][\w'’-]+|&\s+[A-Z][\w'’-]+))?,?\s+"
    r"(?:19|20)\d\d[a-z]?(?:\s*[;,]\s*.+)?)\s*$"
)


@dataclass(frozen=True)
class Ref:
    """One cited item, normalised (papers/ids.py): `key` is the arXiv id without version, or the prefixed
    `doi:`/`s2:`/`local:` id, lower-cased."""

    kind: str  # "arxiv", "doi", "s2" or "local"
    key: str
    version: str = ""
    first_page: int | None = None
    last_page: int | None = None
    locator: str = ""  # a free locator such as "Table 2" when no page is given

    @property
    def display_id(self) -> str:
        return f"arXiv:{self.key}{self.version}" if self.kind == "arxiv" else self.key


def _ref_key(pid: ids.PaperId) -> tuple[str, str, str]:
    if pid.kind == "arxiv":
        base = pid.base.value
        return "arxiv", base.lower() if "/" in base else base, f"v{pid.version}" if pid.version else ""
    return pid.kind, pid.stored, ""


def split_arxiv_id(text: str) -> tuple[str, str] | None:
    """(base id, version) of an arXiv id, prefixed or bare or as an arxiv.org URL; None if not one."""
    pid = ids.parse(text)
    if pid is None or pid.kind != "arxiv":
        return None
    return _ref_key(pid)[1], _ref_key(pid)[2]


def paper_ref_key(paper_id: str) -> tuple[str, str, str] | None:
    """(kind, key, version) of a paper id as stored in meta.json or written in a note's source."""
    pid = ids.parse(paper_id)
    return _ref_key(pid) if pid else None


def parse_part(text: str) -> Ref | str:
    """Parse one citation (`arXiv:ID p.N`, `doi:10.x/y, p. 2-3`, an arXiv URL); a reason string if malformed."""
    found = ids.match_at(text)
    if found is None:
        return "not a paper id (write arXiv:ID, doi:DOI, s2:ID or local:ID)"
    kind, key, version = _ref_key(found[0])
    rest = text[found[1]:].strip().lstrip(",").strip()
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
    """'cite' for an id of any kind (papers/ids.py), 'foreign' for an author-year reference, '' for ordinary text."""
    if ids.PREFIX_RE.match(content) or ids.match_at(content):
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
    retracted: bool = False  # the cited paper is marked retracted: kept, but marked in the text

    def as_dict(self) -> dict[str, Any]:
        extra = {"retracted": True} if self.retracted else {}  # only then: earlier exports keep their bytes
        return extra | {
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
            for alias in ids.aliases(paper):  # a DOI recorded on an arXiv paper cites it, and back
                parsed = paper_ref_key(alias)
                if parsed and paper not in self._by_key.get(parsed[1], []):
                    self._by_key.setdefault(parsed[1], []).append(paper)

    def _resolve(self, ref: Ref) -> tuple[dict[str, Any] | None, str, str]:
        """(paper, reason if not found, note) for a reference."""
        candidates = self._by_key.get(ref.key, [])
        if not candidates:
            return None, "the workspace holds no paper with this id", ""
        arxiv = [p for p in candidates if (paper_ref_key(p["id"]) or ("",))[0] == "arxiv"]
        if ref.kind == "arxiv" and len(arxiv) == len(candidates):
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
        if ref.first_page is not None and paper.get("full_text") is False:
            return self._reject(raw, location, f"the workspace has no full text of {paper['id']}: its pages cannot "
                                               "be cited, the paper as a whole can")
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
        occ = Occurrence(raw, location, True, pid, number, pages=pages, locator=ref.locator, note=note,
                         retracted=bool(paper.get("retracted")))
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
    return f"[{occ.number}{where}](#ref-{occ.number})" + (" (RETRACTED)" if occ.retracted else "")


def render_group(occurrences: list[Occurrence]) -> str:
    """Several citations from one bracket: `[[1, p.3](#ref-1); [2](#ref-2)]`."""
    return "[" + "; ".join(render_occurrence(o) for o in occurrences) + "]"


_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>|#&!~])")


def escape_inline(text: Any) -> str:
    """Text from data (titles, notes, arguments) as inert one-line markdown."""
    return _INLINE_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def workspace_page_count(paper_dir: Callable[[str], Any]) -> Callable[[dict[str, Any]], int]:
    """Page count of a paper (papers.store.page_count), computed once per paper."""
    from agent_scientist.papers.store import page_count

    cache: dict[str, int] = {}

    def count(paper: dict[str, Any]) -> int:
        pid = str(paper.get("id"))
        if pid not in cache:
            cache[pid] = page_count(paper_dir, paper)
        return cache[pid]

    return count
