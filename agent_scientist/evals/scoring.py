"""Scoring one finished question: the chosen option, gold sources read and cited, citation validity.

Everything is read from the workspace and its report (report.write_report's CitationIndex), so a
score can be recomputed from disk. The only model call is the fallback that maps an answer with no
readable `Answer: (X)` to an option, and the optional judge of open answers; both are recorded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent_scientist.evals.formats import INSUFFICIENT, LETTERS, Question, read_choice
from agent_scientist.papers.citation_index import CitationIndex
from agent_scientist.papers.citations import source_key
from agent_scientist.prompting import load
from agent_scientist.records import (
    ChoiceMeasures,
    CitationMeasures,
    ClaimMeasures,
    PaperMeta,
    SourceMeasures,
    StepRecord,
)
from agent_scientist.workspace import Workspace

_LETTER_RE = re.compile(r"(?<![A-Za-z])\(?([A-Z])\)?(?![A-Za-z])")


def paper_keys(paper: PaperMeta) -> set[str]:
    """Every gold-source form a workspace paper answers to (papers/citations.py source_key): its id and every
    alias (DOI, arXiv id of a local PDF, S2, PubMed ids), its original file name."""
    from agent_scientist.papers.ids import aliases

    keys = {source_key(str(paper.get("id") or ""))} | {source_key(a) for a in aliases(paper)}
    if paper.get("original_path"):
        keys.add("file:" + Path(str(paper["original_path"])).name.lower())
    return keys - {""}


def papers_read(ws: Workspace) -> set[str]:
    """The source keys of the papers whose text reached the planner: a `read_paper` call that answered (its
    step's `tool_calls`), or a `gather_evidence` item kept from the paper."""
    from agent_scientist.memory.evidence import question_items

    keys = set()
    for record in ws.steps():
        for call in record.get("tool_calls") or []:
            if call.get("tool") == "read_paper" and call.get("ok"):
                keys.add(source_key(str((call.get("args") or {}).get("paper_id") or "")))
    for items in question_items(ws).values():
        keys.update(source_key(str(item.get("paper_id") or "")) for item in items)
    return keys - {""}


def source_measures(q: Question, papers: Sequence[PaperMeta], cited_ids: set[str],
                    read: set[str] | None = None) -> SourceMeasures:
    """Which gold sources were available in the workspace (added or fetched), which of those were read (`read`:
    papers_read's keys), and which the answer cited."""
    gold = [s for s in q.sources if s.strip()]
    if not gold:
        return {"sources_available": [], "sources_read": [], "sources_cited": [], "source_available": None,
                "source_read": None, "source_cited": None}
    available: list[str] = []
    was_read: list[str] = []
    cited: list[str] = []
    for source in gold:
        key = source_key(source)
        holders = [p for p in papers if key in paper_keys(p)]
        if holders:
            available.append(source)
            if any(paper_keys(p) & (read or set()) for p in holders):
                was_read.append(source)
            if any(str(p.get("id")) in cited_ids for p in holders):
                cited.append(source)
    return {"sources_available": available, "sources_read": was_read, "sources_cited": cited,
            "source_available": bool(available), "source_read": bool(was_read), "source_cited": bool(cited)}


def citation_measures(index: CitationIndex | None) -> tuple[CitationMeasures, set[str]]:
    """Citations in the answer (not in notes) and how many the report verified; the cited paper ids."""
    answer = [o for o in (index.occurrences if index is not None else []) if o.location == "answer"]
    verified = [o for o in answer if o.verified]
    validity = round(len(verified) / len(answer), 4) if answer else None
    return ({"citations": len(answer), "citations_verified": len(verified), "citation_validity": validity},
            {o.paper_id for o in verified})


def claim_figures(review: StepRecord | None) -> ClaimMeasures:
    """Claim support from a claim-check `review` record (agent_scientist.review): supported / all claims."""
    claims = (review or {}).get("claims")
    if not isinstance(claims, list) or not claims:
        return {"claims": None, "claims_supported": None, "claim_support": None}
    supported = sum(1 for c in claims if isinstance(c, dict) and c.get("verdict") == "supported")
    return {"claims": len(claims), "claims_supported": supported, "claim_support": round(supported / len(claims), 4)}


def claim_measures(ws: Workspace) -> ClaimMeasures:
    """Claim support from the latest review of the final answer (agent_scientist.review); absent (None)
    when no review checked it, never guessed."""
    from agent_scientist.records import latest_review

    return claim_figures(latest_review(ws.steps()))


def choice_measures(q: Question, opts: list[str], answer: str | None,
                    mapper: Any = None) -> ChoiceMeasures:
    """The chosen option read from the answer; `mapper(answer, opts) -> index|None` when none is readable."""
    ideal = opts.index(q.ideal)
    index = read_choice(answer, len(opts))
    how = "read" if index is not None else "none"
    if index is None and answer and mapper is not None:
        index = mapper(answer, opts)
        how = "model"
    chosen = LETTERS[index] if index is not None else None
    answered = index is not None and opts[index] != INSUFFICIENT
    return {"ideal": LETTERS[ideal], "chosen": chosen, "chosen_text": opts[index] if index is not None else None,
            "choice_by": how, "mapped_by_model": how == "model", "answered": answered,
            "correct": index == ideal}


def ask(model: Any, key: str, max_tokens: int, **fields: str) -> str:
    """One bounded call with prompt `key` from prompts/eval.yaml; returns the reply text."""
    from agent_scientist.agent.models import ask_prompt

    return ask_prompt(model, load("eval")[key], max_tokens, **fields)


def model_mapper(model: Any) -> Any:
    """A mapper that asks `model` which option an answer chose (reply: a letter or NONE)."""

    def mapper(answer: str, opts: list[str]) -> int | None:
        listing = "\n".join(f"({LETTERS[i]}) {text}" for i, text in enumerate(opts))
        reply = ask(model, "map_choice", 16, answer=answer[-4000:], options=listing)
        found = _LETTER_RE.search(reply.strip())
        if not found or reply.strip().upper().startswith("NONE"):
            return None
        index = LETTERS.index(found.group(1))
        return index if index < len(opts) else None

    return mapper


def judge(model: Any, q: Question, answer: str | None) -> bool | None:
    """Whether `model` grades the answer as agreeing with the reference (None: no answer or no verdict)."""
    if not answer or not q.answer:
        return None
    reply = ask(model, "judge", 8, question=q.question, reference=q.answer, answer=answer[-6000:]).upper()
    if reply.startswith("CORRECT"):
        return True
    if reply.startswith("INCORRECT"):
        return False
    return None
