"""The other export formats: BibTeX of the cited papers, and the whole workspace as one JSON document."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from agent_scientist.papers.citation_index import CitationIndex
from agent_scientist.papers.citations import paper_ref_key
from agent_scientist.records import Note, PaperMeta, StepRecord, stop_label
from agent_scientist.report.evidence import claims_json
from agent_scientist.report.missed import life_science_links
from agent_scientist.workspace import Workspace

JSON_FORMAT = "agent-scientist-export"
JSON_VERSION = 1
_STEP_FIELDS = ("type", "step", "started_at", "ended_at", "duration_s", "tokens_in", "tokens_out", "cost_usd")
_STEP_TEXT = 300
_STOP_WORDS = {"a", "an", "the", "on", "of", "in", "for", "and", "to", "with", "is", "are", "do", "does"}
_BIB_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$",
                "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def bib_escape(text: Any) -> str:
    """A field value BibTeX and LaTeX read literally."""
    return "".join(_BIB_ESCAPES.get(ch, ch) for ch in " ".join(str(text).split()))


def _ascii_word(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower())


def bib_key(paper: PaperMeta) -> str:
    """`surnameYEARword`, e.g. vaswani2017attention; the paper id when the metadata is thin."""
    authors = paper.get("authors") or []
    surname = _ascii_word(str(authors[0]).split()[-1]) if authors and str(authors[0]).split() else ""
    words = [_ascii_word(w) for w in str(paper.get("title") or "").split()]
    word = next((w for w in words if w and w not in _STOP_WORDS), "")
    year = str(paper.get("year") or "")
    if surname and word:
        return f"{surname}{year}{word}"
    return re.sub(r"[^A-Za-z0-9]", "_", str(paper.get("id")))


def bibtex_type(paper: PaperMeta) -> tuple[str, str]:
    """(@type, venue field) from the publication type the indexes gave; @misc when unknown (arXiv-only)."""
    kind = str(paper.get("publication_type") or "").lower().replace("-", "").replace(" ", "")
    if not paper.get("venue"):
        return "misc", ""
    if "conference" in kind or "proceedings" in kind:
        return "inproceedings", "booktitle"
    if "journal" in kind or kind in ("article", "review"):
        return "article", "journal"
    return "misc", ""


def bibtex_entry(paper: PaperMeta, key: str) -> str:
    """One entry: @article/@inproceedings with the venue where the indexes say so, else @misc; the DOI when
    known; arXiv papers carry eprint, archivePrefix, primaryClass and url."""
    fields: list[tuple[str, str]] = [("title", str(paper.get("title") or "Untitled"))]
    authors = [" ".join(str(a).split()) for a in (paper.get("authors") or []) if str(a).strip()]
    if authors:
        fields.append(("author", " and ".join(authors)))
    entry_type, venue_field = bibtex_type(paper)
    if venue_field:
        fields.append((venue_field, str(paper["venue"])))
    if paper.get("year"):
        fields.append(("year", str(paper["year"])))
    if paper.get("doi"):
        fields.append(("doi", str(paper["doi"])))
    pid = str(paper["id"])
    parsed = paper_ref_key(pid)
    arxiv = pid if parsed and parsed[0] == "arxiv" else str(paper.get("arxiv_id") or "")
    if arxiv:
        fields += [("eprint", re.sub(r"v\d+$", "", arxiv)), ("archivePrefix", "arXiv")]
        if paper.get("primary_category"):
            fields.append(("primaryClass", str(paper["primary_category"])))
        fields.append(("url", f"https://arxiv.org/abs/{arxiv}"))
    elif paper.get("doi"):
        fields.append(("url", f"https://doi.org/{paper['doi']}"))
    elif parsed and parsed[0] == "s2":
        fields.append(("url", f"https://www.semanticscholar.org/paper/{pid.split(':', 1)[1]}"))
    elif parsed and parsed[0] in ("pmid", "pmcid"):
        fields.append(("url", life_science_links(paper)[-1][2]))  # PubMed Central's page when there is one
    else:
        fields.append(("howpublished", "Local file added to the workspace"))
        fields.append(("note", f"agent-scientist paper {pid}"))
    if paper.get("retracted"):
        fields.append(("note", "RETRACTED"))
    body = ",\n".join(f"  {name} = {{{bib_escape(value)}}}" for name, value in fields)
    return f"@{entry_type}{{{key},\n{body}\n}}\n"


def bib_keys(index: CitationIndex) -> list[tuple[int, PaperMeta, str]]:
    """(number, paper, key) per cited paper in order of first citation; keys made unique with a, b, c...

    The one home of the keys: references.bib and the LaTeX export's \\citep use the same."""
    out: list[tuple[int, PaperMeta, str]] = []
    seen: set[str] = set()
    for number, paper in index.references():
        key = base = bib_key(paper)
        suffix = ord("a")
        while key in seen:
            key, suffix = f"{base}{chr(suffix)}", suffix + 1
        seen.add(key)
        out.append((number, paper, key))
    return out


def to_bibtex(ws: Workspace, index: CitationIndex) -> str:
    """One entry per cited paper, in order of first citation; keys made unique with a, b, c..."""
    header = f"% Cited papers of agent-scientist workspace {ws.name}, in order of first citation.\n"
    unverified = len(index.unverified())
    if unverified:
        header += f"% {unverified} unverified citation(s) were left out; see the markdown report's appendix.\n"
    entries = [bibtex_entry(paper, key) for _number, paper, key in bib_keys(index)]
    if not entries:
        header += "% No papers were cited.\n"
    return header + "".join("\n" + e for e in entries)


def _step_summary(record: StepRecord) -> dict[str, Any]:
    out = {k: record.get(k) for k in _STEP_FIELDS if k in record}
    for key in ("task", "instruction", "status", "reason", "covers", "text", "counts"):
        if key in record:
            out[key] = record[key]
    if record.get("type") == "run_end":
        out["stopped"] = stop_label(record.get("status"), record.get("reason"))
    if record.get("error"):
        out["error"] = str(record["error"])[:_STEP_TEXT]
    if record.get("final_answer") is not None:
        out["has_final_answer"] = True
    return out


def to_json(ws: Workspace, index: CitationIndex, notes: list[Note] | None, notes_error: str,
            partial: bool, answer: str | None, review: StepRecord | None = None) -> str:
    """The whole workspace in one document for other tools; stable key order and content."""
    numbers = {str(p["id"]): n for n, p in index.references()}
    papers = [{**p, "cited_number": numbers.get(str(p["id"]))} for p in ws.papers()]
    steps = ws.steps()
    doc = {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "workspace": ws.meta,
        "stopped": ws.stopped,  # records.stop_label: the same words as `list`, `show` and report.md
        "partial": partial,
        "answer": answer,
        "steps": {"count": sum(1 for s in steps if s.get("type") == "action"),  # planner steps, as everywhere
                  "records": [_step_summary(s) for s in steps]},
        "notes": None if notes is None else sorted(notes, key=lambda n: (str(n.get("created_at") or ""),
                                                                          str(n.get("id") or ""))),
        "notes_error": notes_error or None,
        "papers": papers,
        "runs": sorted(ws.runs(), key=lambda r: int(r.get("run") or 0)),
        "citations": [o.as_dict() for o in index.occurrences],
        "unverified": index.unverified(),
    }
    if review:  # present once the answer has been checked (agent_scientist.review)
        doc["claims"] = claims_json(review)
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"
