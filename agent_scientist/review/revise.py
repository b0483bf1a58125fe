"""Checking an answer with its records, and the review-and-revise rounds of a planner run.

Records appended to steps.jsonl (so their tokens and cost join the workspace's counters):
- `claim_check`: the verdicts of one batch (one worker call), with the answer's step and hash;
- `review`: the whole check of one answer: every claim with its verdict and evidence, the counts, the
  round, and `task` (the review given to the planner) when it asks for a revision.
A check killed midway continues from its recorded batches; the report reads the last `review` of the
last answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agent_scientist.config import Settings
from agent_scientist.contracts import BaseCapability, Toolbox, ToolContext
from agent_scientist.papers.citation_index import index_for
from agent_scientist.records import (
    ClaimVerdict,
    ReviewClaim,
    StepRecord,
    answer_hash,
    last_answer,
    latest_review,
    summary_line,
)
from agent_scientist.review.check import (
    BATCH,
    RANK,
    Item,
    build_item,
    memory_passages,
    review_batch,
)
from agent_scientist.review.claims import Claim, split_claims
from agent_scientist.workspace import Workspace

NEEDS_WORK = ("unsupported", "contradicted", "unverified", "uncited")
MAX_TASK_CLAIMS = 20
RESUME_REVIEW_TASK = ("Resume: your last answer was under review. Act on the review above (find support, "
                      "correct, weaken or remove each claim it names), then give your whole revised answer "
                      "with final_answer.")
GUIDE = ("Your final answer is checked claim by claim: each cited sentence against the page it cites, with "
         "a quote that must be on that page. Cite the page that says it; sentences stating numbers, "
         "comparisons or findings need a citation.")
ACTION = {"unsupported": "the cited text does not say it: find support, correct it or remove it",
          "contradicted": "the cited text says otherwise: correct it or remove it",
          "unverified": "no quote on the cited pages backs it: cite the right page, weaken it or remove it",
          "uncited": "no citation: cite the paper and page that says it, or remove it"}

Usage = Callable[[], StepRecord]  # the worker's usage since the last call, as step-record fields
Say = Callable[[str], None]


def _self_usage(model_id: str, tokens_in: int, tokens_out: int) -> StepRecord:
    from agent_scientist.agent.models import cost_usd

    if not tokens_in and not tokens_out:
        return {}
    return {"worker_tokens_in": tokens_in, "worker_tokens_out": tokens_out,
            "worker_cost_usd": round(cost_usd(model_id, tokens_in, tokens_out), 8)}


def _done_items(records: Sequence[StepRecord], sha: str) -> dict[tuple, ClaimVerdict]:
    """Verdicts of the check of `sha` in progress: its claim_check batches after the last review record."""
    done: dict[tuple, ClaimVerdict] = {}
    for record in records:
        if record.get("type") == "review":
            done = {}
        elif record.get("type") == "claim_check" and record.get("answer_sha") == sha:
            for v in record.get("verdicts") or []:
                done[_key(v["claim"], v["paper_id"], v.get("pages"), v.get("figure"), v.get("table"))] = v
    return done


def _key(claim: int, paper_id: str | None, pages: Sequence[int] | None, figure: int | None = None,
         table: int | None = None) -> tuple:
    located = (("figure", figure),) if figure is not None else (("table", table),) if table is not None else ()
    return (claim, paper_id, tuple(pages) if pages else None, *located)


def check_answer(ws: Workspace, settings: Settings, model: Any, *, take_usage: Usage | None = None,
                 say: Say | None = None, by: str = "run", round_: int = 0, continue_check: bool = True,
                 ask: Callable[..., tuple[str, int, int]] | None = None) -> StepRecord | None:
    """Check the workspace's last answer and record it; the `review` record (without task), or None if no answer."""
    from agent_scientist.agent.models import accepts_images

    if ask is None:
        from agent_scientist.agent.models import ask_model

        ask = ask_model
    records = ws.steps()
    found = last_answer(records)
    if found is None:
        return None
    answer, step = str(found[1]["final_answer"]), found[1].get("step")
    sha = answer_hash(answer)
    reviewer = getattr(model, "model_id", "") or settings.effective_worker_model
    index = index_for(ws)
    claims = split_claims(answer, index)
    by_number = {c.number: c for c in claims}
    done = _done_items(records, sha) if continue_check else {}
    passages = memory_passages(ws, settings)
    images = accepts_images(settings, "worker")  # the reviewer is the worker model
    items: list[Item] = []
    failures: dict[tuple, str] = {}
    for claim in claims:
        seen = set()
        for cite in claim.cites:
            key = _key(claim.number, cite.paper_id, cite.pages, cite.figure, cite.table)
            if not cite.verified or key in seen or key in done:
                continue
            seen.add(key)
            item = build_item(ws, settings, claim, cite.paper_id, cite.pages, passages, cite.figure, cite.table,
                              images)
            if isinstance(item, str):
                failures[key] = item
            else:
                items.append(item)
    total = len(claims)
    for start in range(0, len(items), BATCH):
        batch = items[start:start + BATCH]
        if say:
            say(f"checking claims {total - len({i.claim for i in items[start:]})}/{total}")
        verdicts, tokens_in, tokens_out = review_batch(model, batch, by_number, ask)
        usage = take_usage() if take_usage else _self_usage(reviewer, tokens_in, tokens_out)
        ws.append_step({"type": "claim_check", "answer_step": step, "answer_sha": sha, "reviewer": reviewer,
                        "verdicts": verdicts, **usage})
        for v in verdicts:
            done[_key(v["claim"], v["paper_id"], v.get("pages"), v.get("figure"), v.get("table"))] = v
    if say and total:
        say(f"checking claims {total}/{total}")
    results = [_claim_result(c, done, failures, reviewer) for c in claims]
    counts: dict[str, int] = {}
    for r in results:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    record: StepRecord = {"type": "review", "answer_step": step, "answer_sha": sha, "round": round_, "by": by,
              "reviewer": reviewer, "claims": results, "counts": counts, "revise": False, "task": None}
    return record


def _claim_result(claim: Claim, done: dict[tuple, ClaimVerdict], failures: dict[tuple, str],
                  reviewer: str) -> ReviewClaim:
    evidence: list[ClaimVerdict] = []
    for cite in claim.cites:
        key = _key(claim.number, cite.paper_id, cite.pages, cite.figure, cite.table)
        if not cite.verified:
            evidence.append({"claim": claim.number, "paper_id": None, "pages": None, "raw": cite.raw,
                             "verdict": "unverified", "quote": "", "found_page": None,
                             "why": f"citation removed from the report: {cite.reason}"})
        elif key in failures:
            evidence.append({"claim": claim.number, "paper_id": cite.paper_id, "pages": None, "raw": cite.raw,
                             "verdict": "unverified", "quote": "", "found_page": None, "why": failures[key]})
        elif key in done and not any(_key(claim.number, e["paper_id"], e.get("pages"), e.get("figure"), e.get("table")) == key for e in evidence):
            evidence.append({**done[key], "raw": cite.raw})
    base: ReviewClaim = {"n": claim.number, "text": claim.plain, "written": claim.text, "start": claim.start,
                         "end": claim.end, "cite_end": claim.cite_end, "citations": [c.raw for c in claim.cites],
                         "reviewer": reviewer}
    if not evidence:
        return {**base, "verdict": "uncited", "quote": "", "paper_id": None, "pages": None,
                "why": "no citation", "evidence": []}
    best = min(evidence, key=lambda e: RANK.get(e["verdict"], 9))
    found = best.get("found_page")
    pages = [found, found] if found else best.get("pages")
    return {**base, "verdict": best["verdict"], "quote": best.get("quote") or "", "paper_id": best.get("paper_id"),
            "pages": pages, "why": best.get("why") or "", "evidence": evidence}


def review_task(record: StepRecord) -> str | None:
    """What the planner is told to do about the claims that need work; None when none does."""
    bad = [c for c in record["claims"] if c["verdict"] in NEEDS_WORK]
    if not bad:
        return None
    lines = [f"Review of your answer: {len(bad)} of {len(record['claims'])} claims need work "
             f"({summary_line(record['counts'])}). For each claim below, find support (read the cited page or "
             "another paper), correct it, weaken it, or remove it. Then give your whole revised answer with "
             "final_answer; it will be checked again."]
    for c in bad[:MAX_TASK_CLAIMS]:
        pages = c.get("pages") or []
        span = f" p.{pages[0]}" + (f"-{pages[-1]}" if pages and pages[-1] != pages[0] else "") if pages else ""
        where = f", {c['paper_id']}{span}" if c.get("paper_id") else ""
        detail = c.get("why") or ""
        if c.get("quote") and c["verdict"] == "contradicted":
            detail = f"the source says: \"{c['quote'][:300]}\""
        lines.append(f"- Claim {c['n']} ({c['verdict']}{where}): \"{c['text'][:300]}\". {detail}. "
                     f"To do: {ACTION[c['verdict']]}.")
    if len(bad) > MAX_TASK_CLAIMS:
        lines.append(f"... and {len(bad) - MAX_TASK_CLAIMS} more claims with the same problems.")
    return "\n".join(lines)


class AnswerReview:
    """The planner loop's review step: check each final answer; ask for a revision while rounds remain."""

    resume_task = RESUME_REVIEW_TASK  # the planner's task when it resumes into an unfinished review

    def __init__(self, ws: Workspace, settings: Settings, model: Any):
        self.ws, self.settings, self.model = ws, settings, model

    def rounds_used(self, records: Sequence[StepRecord]) -> int:
        """Revisions asked since the question or the last follow-up instruction."""
        used = 0
        for record in records:
            if record.get("type") == "run_start" and record.get("instruction"):
                used = 0
            elif record.get("type") == "review" and record.get("revise"):
                used += 1
        return used

    def after_answer(self, take_usage: Usage | None = None, say: Say | None = None) -> str | None:
        """Check the answer just given, record the review; the review task if the planner should revise."""
        records = self.ws.steps()
        record = check_answer(self.ws, self.settings, self.model, take_usage=take_usage, say=say,
                              round_=self.rounds_used(records) + 1)
        if record is None:
            return None
        task = review_task(record) if self.rounds_used(records) < self.settings.review_rounds else None
        self.ws.append_step({**record, "revise": bool(task), "task": task})
        return task

    def pending(self) -> bool:
        """Whether the last answer's review was left unfinished (a kill mid-check, or a revision not begun)."""
        records = self.ws.steps()
        found = last_answer(records)
        if found is None:
            return False
        pos, answer = found
        later = records[pos + 1:]
        if any(r.get("type") in ("action", "planning") for r in later):
            return False  # the planner already went on
        review = latest_review(records)
        if review is None:
            return not any(r.get("type") == "run_end" and r.get("status") == "completed" for r in later) \
                or any(r.get("type") == "claim_check" for r in later)
        return bool(review.get("task"))

    def resume(self, take_usage: Usage | None = None, say: Say | None = None) -> str | None:
        """Finish the unfinished review: the task for the planner, or None when the answer stands."""
        review = latest_review(self.ws.steps())
        if review is not None:
            return RESUME_REVIEW_TASK if review.get("task") else None
        return self.after_answer(take_usage, say)


class ReviewCapability(BaseCapability):
    """Gives the planner loop its answer review (when `review_rounds` > 0 and a worker model is set)."""

    name = "review"

    def register(self, ctx: ToolContext, box: Toolbox) -> None:
        if ctx.settings.review_rounds <= 0 or ctx.worker_model is None:
            return
        box.instructions.append(GUIDE)
        box.answer_review = AnswerReview(ctx.ws, ctx.settings, ctx.worker_model)
