"""What the report shows of a review: a verdict marker after each claim's citations, the header's counts,
the Evidence section, the JSON `claims` list, and `--strict` (claims not supported or partial left out).

Markers are placed in the answer before it is rendered, as private-use placeholders the renderer leaves
alone, and become markdown links after it (the renderer escapes any link a model could write).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agent_scientist.papers.citation_index import CitationIndex
from agent_scientist.records import ReviewClaim, StepRecord, summary_line
from agent_scientist.report.citations import escape_inline, locator_text

MARKS = {"supported": "✓", "partial": "~", "unsupported": "✗", "contradicted": "✗", "unverified": "?",
         "uncited": "?"}
KEPT = ("supported", "partial")  # what --strict keeps
EVIDENCE_ANCHOR = "evidence"
_OPEN, _CLOSE, _CUT = "\ue000", "\ue001", "\ue002"
_PLACEHOLDER_RE = re.compile(f"([{_OPEN}{_CUT}])(\\d+){_CLOSE}")


def annotate(answer: str, review: StepRecord | None, strict: bool = False) -> str:
    """The answer with a placeholder after each claim (or, with `strict`, instead of claims not kept)."""
    text = answer.replace("\r\n", "\n").replace("\r", "\n")  # as claims.prepare: the offsets' text
    text = re.sub(f"[{_OPEN}{_CLOSE}{_CUT}]", "\ufffd", text)  # same length: recorded offsets stay right
    if not review:
        return text
    for claim in sorted(review.get("claims") or [], key=lambda c: c.get("start", 0), reverse=True):
        n, start, end = int(claim["n"]), int(claim.get("start", 0)), int(claim.get("end", 0))
        if not 0 <= start < end <= len(text):
            continue
        if strict and claim["verdict"] not in KEPT:
            body = text[start:end]
            tail = body[len(body.rstrip()):]
            text = text[:start] + f"{_CUT}{n}{_CLOSE}" + tail + text[end:]
            continue
        at = int(claim.get("cite_end") or 0) or start + len(text[start:end].rstrip())
        text = text[:at] + f" {_OPEN}{n}{_CLOSE}" + text[at:]
    return text


def finish(rendered: str, review: StepRecord | None) -> str:
    """Placeholders become verdict markers linking to the evidence, or removal markers."""
    marks = {str(c["n"]): MARKS.get(c["verdict"], "?") for c in (review or {}).get("claims") or []}

    def replace(m: re.Match) -> str:
        kind, n = m.group(1), m.group(2)
        if kind == _CUT:
            return f"[claim removed: c{n}](#claim-{n})"
        return f"[{marks.get(n, '?')}](#claim-{n})"

    return _PLACEHOLDER_RE.sub(replace, rendered)


def header_line(review: StepRecord) -> str:
    reviewer = escape_inline(review.get("reviewer") or "unknown")
    return (f"- **Claims:** {summary_line(review.get('counts') or {})} "
            f"(reviewer {reviewer}; see [Evidence](#{EVIDENCE_ANCHOR}))")


def _where(claim: ReviewClaim, numbers: dict[str, int]) -> str:
    pid = claim.get("paper_id")
    if not pid:
        return ""
    page = locator_text(claim.get("pages"))
    if pid in numbers:
        return f" [{numbers[pid]}{page}](#ref-{numbers[pid]})"
    return f" ({escape_inline(pid)}{page})"


def evidence_section(review: StepRecord, index: CitationIndex, strict: bool = False) -> str:
    """Claim → verdict → quote → [n, p.x], one line per claim, each the target of its marker."""
    numbers = {str(p["id"]): n for n, p in index.references()}
    lines = [f'<a id="{EVIDENCE_ANCHOR}"></a>', "", "## Evidence", "",
             f"Each claim of the answer, checked against the text it cites by {escape_inline(review.get('reviewer') or 'the worker model')}; "
             "a quote is shown only where the code found it on the cited pages.", ""]
    for claim in review.get("claims") or []:
        verdict = str(claim["verdict"])
        removed = " (removed: --strict)" if strict and verdict not in KEPT else ""
        line = (f'- <a id="claim-{claim["n"]}"></a>{MARKS.get(verdict, "?")} **c{claim["n"]} {verdict}**{removed}: '
                f"{escape_inline(claim.get('text') or '')}")
        if claim.get("quote") and verdict in ("supported", "partial", "contradicted"):
            line += f" — “{escape_inline(claim['quote'])}”{_where(claim, numbers)}"
        elif claim.get("why") or verdict == "unsupported":
            why = claim.get("why") or "the reviewer found that the cited text does not say it"
            line += f" — *{escape_inline(why)}*{_where(claim, numbers)}"
        lines.append(line)
    return "\n".join(lines)


def claims_json(review: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """The `claims` list of `export --format json` and `verify --json`."""
    if not review:
        return None
    keys = ("n", "text", "citations", "verdict", "quote", "paper_id", "pages", "reviewer", "why", "evidence")
    return [{k: c.get(k) for k in keys} for c in review.get("claims") or []]
