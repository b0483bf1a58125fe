"""The one record shape every source maps to ("work"), and how records of several sources merge.

A work is a plain dict: id (papers/ids.py stored form: arXiv id, else doi:, else s2:, else pmcid:), title,
authors, year, published, venue, citation_count, open_access, pdf_url (an open-access PDF), abstract,
tldr, doi, arxiv_id, s2_id, pmid, pmcid, openalex_id, publication_type, publication_types, mesh, retracted,
notices (retraction and correction notices said of it, or that it is), sources (which indexes returned it).
Records of several sources are merged by `merge`: same DOI, arXiv id, S2 id, PMID or PMCID, or same
normalised title (markup such as `<i>` dropped) and year.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from agent_scientist.papers import ids
from agent_scientist.papers.fetch import FetchError

MAX_JSON = 10_000_000


def api_key(env: str) -> str:
    """The key in environment variable `env` ("" when unset or when the source takes none)."""
    return os.environ.get(env, "").strip() if env else ""


def parse_json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise FetchError("bad_response", f"{what} sent an answer that is not JSON "
                                         f"(starts {body[:40].decode('utf-8', 'replace')!r}); try again later") from None


# PubMed's publication types and CommentsCorrections links (Europe PMC spells the same links out: "Erratum in")
# that flag a paper: one vocabulary for both sources, and for `update`'s new-notice check.
RETRACTED_TYPES = {"retracted publication"}
NOTICE_TYPES = {"retraction of publication": "retraction notice", "published erratum": "correction notice",
                "expression of concern": "expression of concern"}
LINKS = {"RetractionIn": ("retracted", "retracted by"), "RetractionOf": ("notice", "retraction notice of"),
         "ErratumIn": ("corrected", "corrected by"), "ErratumFor": ("notice", "correction notice of"),
         "ExpressionOfConcernIn": ("concern", "expression of concern in")}


def pubmed_notices(types: list[str], links: list[tuple[str, str]], what: str) -> tuple[list[str], bool]:
    """(notices, retracted) from publication types and (link type, target) pairs; a link type may be
    PubMed's `ErratumIn` or Europe PMC's `Erratum in`."""
    notices, retracted = [], False
    for t in types:
        retracted = retracted or t.lower() in RETRACTED_TYPES
        if t.lower() in NOTICE_TYPES:
            notices.append(f"this is a {NOTICE_TYPES[t.lower()]} ({what} publication type)")
    for ref_type, target in links:
        kind, said = LINKS.get("".join(w[:1].upper() + w[1:] for w in ref_type.split()), ("", ""))
        if kind:
            notices.append(f"{said} {target}".strip())
            retracted = retracted or kind == "retracted"
    return notices, retracted


def record(**fields: Any) -> dict:
    """A work with every field present; its id is the best id it has (arXiv, else DOI, else S2)."""
    work: dict[str, Any] = {"id": "", "title": "", "authors": [], "year": None, "published": "", "venue": "", "citation_count": None,
            "open_access": False, "pdf_url": "", "abstract": "", "tldr": "", "doi": "", "arxiv_id": "", "s2_id": "",
            "pmid": "", "pmcid": "", "openalex_id": "", "publication_type": "", "publication_types": [], "mesh": [],
            "retracted": False, "notices": [], "sources": []}
    work.update({k: v for k, v in fields.items() if v is not None})
    work["title"] = " ".join(str(work["title"] or "").split())
    work["id"] = work["id"] or best_id(work)
    return work


def best_id(work: dict) -> str:
    if work.get("arxiv_id"):
        return ids.base_id(str(work["arxiv_id"]))
    for field, prefix in (("doi", "doi"), ("pmid", "pmid"), ("pmcid", "pmcid"), ("s2_id", "s2")):
        if work.get(field):
            return f"{prefix}:{work[field]}"
    return ""


def title_key(title: str, year: Any) -> str:
    words = re.findall(r"[a-z0-9]+", re.sub(r"</?[a-z][a-z0-9]*[^<>]*>", " ", str(title or "").lower()))
    return f"title:{' '.join(words)}|{year}" if words and year else ""


def keys(work: dict) -> list[str]:
    out = []
    if work.get("doi"):
        out.append(f"doi:{str(work['doi']).lower()}")
    if work.get("arxiv_id"):
        out.append(f"arxiv:{ids.match_key(str(work['arxiv_id']))}")
    if work.get("s2_id"):
        out.append(f"s2:{work['s2_id']}")
    if work.get("pmid"):
        out.append(f"pmid:{work['pmid']}")
    if work.get("pmcid"):
        out.append(f"pmcid:{str(work['pmcid']).lower()}")
    key = title_key(work.get("title", ""), work.get("year"))
    return out + ([key] if key else [])


def combine(a: dict, b: dict) -> dict:
    """One work from two records of the same paper: the first non-empty value wins, counts take the larger,
    flags (open access, retracted) are kept if either source says so."""
    out = dict(a)
    for key, value in b.items():
        if key == "sources":
            out["sources"] = a["sources"] + [s for s in value if s not in a["sources"]]
        elif key == "notices":
            out[key] = list(a.get(key) or []) + [n for n in value or [] if n not in (a.get(key) or [])]
        elif key == "citation_count":
            counts = [c for c in (a.get(key), value) if c is not None]
            out[key] = max(counts) if counts else None
        elif key in ("open_access", "retracted"):
            out[key] = bool(a.get(key) or value)
        elif key == "authors":
            out[key] = a[key] if len(a.get(key) or []) >= len(value or []) else value
        elif not out.get(key) and value:
            out[key] = value
    if ids.kind_of(a.get("id", "")) != "arxiv":
        out["id"] = best_id(out)  # an arXiv id found by another source becomes the id
    return out


def merge(ranked: list[list[dict]]) -> list[dict]:
    """Records of several sources (each list in its own rank order) merged, interleaved by rank. A record
    that links two results already kept (a PubMed record with the DOI of one and the PMID of another) joins
    them into the earlier one."""
    merged: list[dict | None] = []
    index: dict[str, int] = {}
    joined: dict[int, int] = {}  # a result folded into an earlier one -> that one

    def home(i: int) -> int:
        while i in joined:
            i = joined[i]
        return i

    longest = max((len(r) for r in ranked), default=0)
    for rank in range(longest):
        for records in ranked:
            if rank >= len(records):
                continue
            work = records[rank]
            hits = sorted({home(index[k]) for k in keys(work) if k in index})
            if not hits:
                merged.append(work)
                found = len(merged) - 1
            else:
                found = hits[0]
                kept = merged[found]
                assert kept is not None
                for other in hits[1:]:
                    folded = merged[other]
                    assert folded is not None
                    kept = combine(kept, folded)
                    merged[other], joined[other] = None, found
                merged[found] = kept = combine(kept, work)
            for k in keys(merged[found] or {}):
                index.setdefault(k, found)
    return [w for w in merged if w is not None]
