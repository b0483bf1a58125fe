"""The citation index: an answer's citations (papers/citations.py) verified against the workspace's papers and
pages, numbered in order of first citation. Below both report/ (which renders it) and review/ (which checks
the claims it resolves).

Only papers held in the workspace can be cited; a page must exist in the paper. Verified citations are
numbered in order of first citation; the others get labels U1, U2, ... so the report can remove them from
the text with a visible marker and list them in an appendix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agent_scientist.papers import ids
from agent_scientist.papers.citations import Ref, paper_ref_key
from agent_scientist.papers.layout import page_count, paper_dir
from agent_scientist.records import CitationEntry, PaperMeta, UnverifiedCitation, Visuals
from agent_scientist.workspace import Workspace


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
    figure: int | None = None
    table: int | None = None

    def as_dict(self) -> CitationEntry:
        # retracted, figure and table only when set, in this key order: earlier exports keep their bytes
        entry = CitationEntry(retracted=True) if self.retracted else CitationEntry()
        entry.update({"raw": self.raw, "location": self.location, "verified": self.verified,
                      "paper_id": self.paper_id or None, "number": self.number, "label": self.label or None,
                      "pages": list(self.pages) if self.pages else None, "locator": self.locator or None})
        if self.figure is not None:
            entry["figure"] = self.figure
        if self.table is not None:
            entry["table"] = self.table
        entry.update({"reason": self.reason or None, "note": self.note or None})
        return entry


@dataclass
class CitationIndex:
    """Verifies citations against the workspace's papers and hands out numbers in order of first use."""

    papers: list[PaperMeta]
    page_count: Callable[[PaperMeta], int] = lambda paper: int(paper.get("pages") or 0)
    # the tables and figures of a paper (papers/visuals.py's record), None where none can be known
    visuals: Callable[[PaperMeta], Visuals | None] = lambda paper: None
    occurrences: list[Occurrence] = field(default_factory=list)
    _numbers: dict[str, int] = field(default_factory=dict)
    _labels: dict[tuple[str, str], str] = field(default_factory=dict)
    _by_key: dict[str, list[PaperMeta]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for paper in sorted(self.papers, key=lambda p: str(p.get("id"))):
            for alias in ids.aliases(paper):  # a DOI recorded on an arXiv paper cites it, and back
                parsed = paper_ref_key(alias)
                if parsed and paper not in self._by_key.get(parsed[1], []):
                    self._by_key.setdefault(parsed[1], []).append(paper)

    def _resolve(self, ref: Ref) -> tuple[PaperMeta | None, str, str]:
        """(paper, reason if not found, note) for a reference."""
        candidates = self._by_key.get(ref.key, [])
        if not candidates:
            return None, "the workspace holds no paper with this id", ""
        arxiv = [p for p in candidates if (paper_ref_key(p["id"]) or ("",))[0] == "arxiv"]
        if ref.kind == "arxiv" and len(arxiv) == len(candidates):
            versions = {paper_ref_key(p["id"])[2]: p for p in candidates}  # type: ignore[index]  # all arXiv: each has a key
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
        for kind, number in (("figure", ref.figure), ("table", ref.table)):
            if number is not None:
                problem = self._located(paper, kind, number, pages)
                if problem:
                    return self._reject(raw, location, problem)
        pid = str(paper["id"])
        number = self._numbers.setdefault(pid, len(self._numbers) + 1)
        occ = Occurrence(raw, location, True, pid, number, pages=pages, locator=ref.locator, note=note,
                         retracted=bool(paper.get("retracted")), figure=ref.figure, table=ref.table)
        self.occurrences.append(occ)
        return occ

    def _located(self, paper: PaperMeta, kind: str, number: int, pages: tuple[int, int] | None) -> str:
        """Why a cited figure or table is not in the paper (or not on the cited pages); "" when it is."""
        if paper.get("full_text") is False:
            return f"the workspace has no full text of {paper['id']}: its {kind}s cannot be cited"
        found = self.visuals(paper)
        if found is None:
            return f"the {kind}s of {paper['id']} are unknown (no PDF in the workspace)"
        # the pages each is on: a table's pages, a figure's page and its caption's
        items = {t["number"]: set(t["pages"]) for t in found["tables"]} if kind == "table" else \
            {f["number"]: {f["page"], f["caption_page"]} for f in found["figures"]}
        if number not in items:
            have = ", ".join(str(n) for n in sorted(items)) or "none"
            return f"{paper['id']} has no {kind} {number} ({kind}s found: {have})"
        on = items[number]
        if pages and not any(pages[0] <= n <= pages[1] for n in on):
            where = ", ".join(f"p.{n}" for n in sorted(on))
            return f"{kind} {number} of {paper['id']} is on {where}, not on the cited pages"
        return ""

    def _reject(self, raw: str, location: str, reason: str) -> Occurrence:
        key = (" ".join(raw.split()).lower(), reason)
        label = self._labels.setdefault(key, f"U{len(self._labels) + 1}")
        occ = Occurrence(raw, location, False, label=label, reason=reason)
        self.occurrences.append(occ)
        return occ

    def reject(self, raw: str, location: str, reason: str) -> Occurrence:
        """Record a citation attempt that cannot be a workspace paper (a DOI, an author-year reference)."""
        return self._reject(raw, location, reason)

    def references(self) -> list[tuple[int, PaperMeta]]:
        """Cited workspace papers, numbered in order of first citation."""
        by_id = {str(p["id"]): p for p in self.papers}
        return [(n, by_id[pid]) for pid, n in sorted(self._numbers.items(), key=lambda kv: kv[1])]

    def unverified(self) -> list[UnverifiedCitation]:
        """One entry per distinct unverified citation: label, raw text, reason, where it appeared."""
        entries: dict[str, UnverifiedCitation] = {}
        for occ in self.occurrences:
            if occ.verified:
                continue
            entry = entries.setdefault(occ.label, UnverifiedCitation(label=occ.label, raw=occ.raw, reason=occ.reason,
                                                                     locations=[]))
            if occ.location not in entry["locations"]:
                entry["locations"].append(occ.location)
        return sorted(entries.values(), key=lambda e: int(e["label"][1:]))


def workspace_page_count(ws: Workspace) -> Callable[[PaperMeta], int]:
    """Page count of a workspace paper (papers.layout.page_count), computed once per paper."""
    cache: dict[str, int] = {}

    def count(paper: PaperMeta) -> int:
        pid = str(paper.get("id"))
        if pid not in cache:
            cache[pid] = page_count(lambda paper_id: paper_dir(ws, paper_id), paper)
        return cache[pid]

    return count


def workspace_visuals(ws: Workspace) -> Callable[[PaperMeta], Visuals | None]:
    """The tables and figures of a workspace paper (extracted now if no read has finished it), once per paper."""
    from agent_scientist.papers import visuals

    cache: dict[str, Visuals | None] = {}

    def found(paper: PaperMeta) -> Visuals | None:
        pid = str(paper.get("id"))
        if pid not in cache:
            folder = paper_dir(ws, pid)
            cache[pid] = visuals.ensure(folder) if (folder / "paper.pdf").is_file() else None
        return cache[pid]

    return found


def index_for(ws: Workspace) -> CitationIndex:
    """A fresh index over the workspace's papers, their page counts, tables and figures."""
    return CitationIndex(ws.papers(), workspace_page_count(ws), workspace_visuals(ws))
