"""gather_evidence: the worker model reads the best candidate passages for a question, in batches with a few
calls in flight, and gives each a relevance score, a short summary, a stance and a verbatim quote. The quote
is checked by the claim review's own code (found on the passage's pages, or the item is dropped and counted).

Every judged batch is one `evidence` record in steps.jsonl (its items and what the call cost), appended and
flushed the moment the call returns: that record is the cache (passage id + question hash), so a repeated
question, a resume or a restart after a kill never pays for a passage twice. Kept items are also notes of
kind `evidence` in the memory, so `recall` finds them later.
"""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent_scientist.config import Settings
from agent_scientist.papers.ids import citation_label
from agent_scientist.prompting import load, render
from agent_scientist.records import EvidenceItem, Note, PassageHit
from agent_scientist.workspace import Workspace

if TYPE_CHECKING:
    from agent_scientist.memory.store import MemoryStore

EVIDENCE_KIND = "evidence"
CANDIDATES = 30  # passages the worker reads per question
PER_PAPER = 8  # candidates from one paper when no paper is named
BATCH = 5  # passages per worker call
SUMMARY_WORDS = 60
MIN_SCORE = 3  # items scored below this are judged irrelevant and not listed
MAX_K = 20
PASSAGE_SHOWN = 1500  # characters of a passage the worker sees
TOKENS_PER_PASSAGE = 220  # the worker's output cap per passage (summary + quote + fields)
STANCES = ("supports", "contradicts", "neutral")


def prompt() -> dict[str, Any]:
    """The worker's prompt (prompts/evidence.yaml)."""
    return load("evidence")


def question_key(question: str) -> str:
    """The cache key of a question: case and spacing do not matter."""
    return hashlib.sha256(" ".join(question.lower().split()).encode()).hexdigest()[:16]


def item_id(passage_id: str, qkey: str) -> str:
    """The memory id of one passage judged for one question."""
    return "e-" + hashlib.sha256(f"{passage_id}\n{qkey}".encode()).hexdigest()[:16]


def cite(item: EvidenceItem) -> str:
    """The citation to paste: `[arXiv:2401.01234v2 p.3]`."""
    return f"[{citation_label(item['paper_id'])} p.{item.get('page') or item['pages'][0]}]"


@dataclass
class Gathered:
    """What one gather found and spent."""

    question: str
    items: list[EvidenceItem] = field(default_factory=list)  # every judged candidate (dropped ones too)
    read: int = 0  # candidates judged (this call or before)
    cached: int = 0  # of them judged by an earlier call: not paid again
    batches: int = 0  # worker calls made now
    failed: int = 0  # candidates whose call failed or whose answer could not be read
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    stopped: str = ""  # why the gather stopped early ("" if it did not)

    def kept(self) -> list[EvidenceItem]:
        found = [i for i in self.items if not i.get("dropped") and int(i.get("score") or 0) >= MIN_SCORE]
        return sorted(found, key=lambda i: (-int(i["score"]), i["passage_id"]))

    @property
    def dropped(self) -> int:
        return sum(1 for i in self.items if i.get("dropped"))


def judged(ws: Workspace, qkey: str) -> dict[str, EvidenceItem]:
    """passage id -> the item judged for this question by any earlier batch (the cache)."""
    out: dict[str, EvidenceItem] = {}
    for record in ws.steps():
        if record.get("type") == "evidence" and record.get("question_key") == qkey:
            for item in record.get("items") or []:
                out[str(item.get("passage_id"))] = item
    return out


def candidates(ws: Workspace, store: MemoryStore, question: str, paper_ids: list[str],
               n: int = CANDIDATES) -> list[PassageHit]:
    """The best `n` passages for the question from the named papers (or all the workspace's), each paper
    indexed first if its passages are not in the memory yet."""
    from agent_scientist.papers.quotes import paper_pages
    from agent_scientist.papers.store import add_passages

    papers = paper_ids or [str(m["id"]) for m in ws.papers()]
    for pid in papers:
        pages = paper_pages(ws, pid)
        if pages:
            add_passages(store, pid, pages)
    store.wait_indexed()
    if not paper_ids:
        return list(store.search_passages(question, n, per_paper=PER_PAPER))
    per = max(1, math.ceil(n / len(paper_ids)))
    lists = [store.search_passages(question, per, paper_id=pid) for pid in paper_ids]
    out: list[PassageHit] = []
    for rank in range(per):  # interleaved: each named paper's best first
        out += [hits[rank] for hits in lists if rank < len(hits)]
    return out[:n]


def _render(question: str, batch: list[PassageHit]) -> str:
    blocks = []
    for n, p in enumerate(batch, start=1):
        where = f"p.{p['page_start']}" + (f"-{p['page_end']}" if p["page_end"] != p["page_start"] else "")
        text = " ".join(str(p["text"]).split())[:PASSAGE_SHOWN]
        blocks.append(f"PASSAGE {n} ({citation_label(p['paper_id'])} {where}):\n<<<\n{text}\n>>>")
    return render(prompt()["user"], question=question, passages="\n\n".join(blocks), words=SUMMARY_WORDS)


def _item(ws: Workspace, qkey: str, passage: PassageHit, entry: dict[str, Any] | None, why: str) -> EvidenceItem:
    """One judged passage: the worker's answer where its quote is found on the passage's pages."""
    from agent_scientist.papers.quotes import find_quote, paper_pages, quote_problem
    start, end = int(passage["page_start"] or 1), int(passage["page_end"] or passage["page_start"] or 1)
    item = EvidenceItem(id=item_id(passage["id"], qkey), passage_id=passage["id"], paper_id=passage["paper_id"],
                        pages=[start, end], page=None, score=0, stance="neutral", summary="", quote="", dropped="")
    if entry is None:
        return {**item, "dropped": why or "the worker gave no answer for this passage", "failed": True}
    try:
        score = max(0, min(10, int(round(float(entry.get("score") or 0)))))
    except (TypeError, ValueError):
        score = 0
    stance = str(entry.get("stance") or "neutral").strip().lower()
    summary = " ".join(str(entry.get("summary") or "").split()[:SUMMARY_WORDS])
    quote = " ".join(str(entry.get("quote") or "").split())
    item.update({"score": score, "stance": stance if stance in STANCES else "neutral", "summary": summary,
                 "quote": quote})
    problem = quote_problem(quote) if quote else "no quote"
    if problem:
        return {**item, "dropped": problem}
    pages = paper_pages(ws, passage["paper_id"])
    searchable = [(n, pages[n - 1]) for n in range(start, min(end, len(pages)) + 1)]
    found = find_quote(quote, searchable)
    if found is None:
        return {**item, "dropped": f"the quote is not on p.{start}" + (f"-{end}" if end != start else "")}
    return {**item, "page": found}


def judge_batch(ws: Workspace, model: Any, question: str, qkey: str,
                batch: list[PassageHit]) -> tuple[list[EvidenceItem], int, int]:
    """One bounded worker call for a batch: (items, tokens in, tokens out). Never raises but for Ctrl-C."""
    from agent_scientist.agent.models import ask_model, metered_apart
    from agent_scientist.memory.worker import parse_json

    try:
        with metered_apart():
            reply, tokens_in, tokens_out = ask_model(model, prompt()["system"].strip(), _render(question, batch),
                                                     TOKENS_PER_PASSAGE * len(batch) + 100)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a timeout or an error after retries: these passages stay unjudged
        why = f"the worker call failed: {' '.join(str(exc).split())[:200] or type(exc).__name__}"
        return [_item(ws, qkey, p, None, why) for p in batch], 0, 0
    data = parse_json(reply or "")
    if isinstance(data, dict):
        data = data.get("items") or data.get("passages")
    entries: dict[int, dict[str, Any]] = {}
    for position, entry in enumerate(data if isinstance(data, list) else [], start=1):
        if isinstance(entry, dict):
            try:
                number = int(entry.get("item", position))
            except (TypeError, ValueError):
                continue
            entries.setdefault(number, entry)
    why = "the worker's answer could not be read" if not entries else ""
    return [_item(ws, qkey, p, entries.get(n), why) for n, p in enumerate(batch, start=1)], tokens_in, tokens_out


def gather(ws: Workspace, settings: Settings, store: MemoryStore, model: Any, question: str,
           paper_ids: list[str] | None = None, concurrency: int | None = None) -> Gathered:
    """Judge the question's candidate passages not judged before, at most `concurrency` calls in flight,
    recording each batch as it returns; `budget_usd` stops it between batches."""
    from agent_scientist.agent.models import cost_usd

    qkey = question_key(question)
    found = Gathered(question)
    cache = judged(ws, qkey)
    todo = []
    for p in candidates(ws, store, question, list(paper_ids or [])):
        if p["id"] in cache and not cache[p["id"]].get("failed"):
            found.items.append(cache[p["id"]])
            found.cached += 1
        else:
            todo.append(p)
    _save(store, question, [i for i in found.items if not i.get("dropped")])  # after a kill: finish saving
    batches = [todo[i:i + BATCH] for i in range(0, len(todo), BATCH)]
    model_id = getattr(model, "model_id", "") or settings.effective_worker_model
    limit = max(1, int(concurrency or settings.evidence_concurrency))

    def over_budget() -> bool:
        return bool(settings.budget_usd and float(ws.meta.get("cost_usd") or 0.0) >= settings.budget_usd)

    pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="evidence")
    running: set[Future] = set()
    try:
        while batches or running:
            while batches and len(running) < limit:
                if over_budget():
                    found.stopped = (f"the budget (${settings.budget_usd:g}) was reached; "
                                     f"{sum(len(b) for b in batches)} candidate(s) were not read")
                    batches = []
                    break
                running.add(pool.submit(judge_batch, ws, model, question, qkey, batches.pop(0)))
            if not running:
                break
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                items, tokens_in, tokens_out = future.result()
                cost = round(cost_usd(model_id, tokens_in, tokens_out), 8)
                ws.append_step({"type": "evidence", "question": question, "question_key": qkey,
                                "reviewer": model_id, "items": items, "worker_tokens_in": tokens_in,
                                "worker_tokens_out": tokens_out, "worker_cost_usd": cost})
                found.batches += 1
                found.tokens_in += tokens_in
                found.tokens_out += tokens_out
                found.cost_usd += cost
                found.failed += sum(1 for i in items if i.get("failed"))
                found.items += items
                _save(store, question, [i for i in items if not i.get("dropped")])
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    found.read = len(found.items) - found.failed
    return found


def _save(store: MemoryStore, question: str, items: list[EvidenceItem]) -> None:
    """Kept items as `evidence` notes (idempotent: one id per passage and question)."""
    if not items:
        return
    have = {n["id"] for n in store.get_notes([i["id"] for i in items])}
    notes = [Note(id=i["id"], kind=EVIDENCE_KIND, source=citation_label(i["paper_id"]),
                  page=int(i.get("page") or i["pages"][0]), question=question, pages=i["pages"],
                  stance=i["stance"], score=i["score"], quote=i["quote"],
                  text=f"{i['summary']} “{i['quote']}”") for i in items if i["id"] not in have]
    if notes:
        store.add_notes(notes)


def sides(items: list[EvidenceItem]) -> dict[str, list[str]]:
    """The papers on each side of a question: {"supports": [...], "contradicts": [...]} (labels, in order)."""
    out: dict[str, list[str]] = {"supports": [], "contradicts": []}
    for item in items:
        label = citation_label(item["paper_id"])
        if item.get("stance") in out and label not in out[item["stance"]]:
            out[item["stance"]].append(label)
    return out


def disagreement(items: list[EvidenceItem]) -> str:
    """'Supports: A, B; contradicts: C' when the kept items take both sides, else ''."""
    s = sides(items)
    if not (s["supports"] and s["contradicts"]):
        return ""
    return f"supports: {', '.join(s['supports'])}; contradicts: {', '.join(s['contradicts'])}"


def describe(found: Gathered, k: int) -> str:
    """The tool's answer: disagreement first, then the top `k` items ready to cite, then the counts."""
    kept = found.kept()
    lines = []
    split = disagreement(kept)
    if split:
        lines.append(f"The evidence disagrees — {split}. Say so in the answer, naming both sides.")
    lines.append(f"Evidence for {found.question!r}:")
    for n, item in enumerate(kept[:k], start=1):
        lines.append(f"{n}. {cite(item)} score {item['score']}/10, {item['stance']}: {item['summary']} "
                     f"Quote: “{item['quote']}”")
    if not kept:
        lines.append("No passage was judged relevant. Search for and read more papers, then gather again.")
    more = len(kept) - k
    counts = (f"{found.read} candidate(s) read ({found.cached} from earlier calls, not paid again), "
              f"{found.dropped - found.failed} dropped for a quote not found on their pages")
    if found.failed:
        counts += f", {found.failed} unjudged (the worker failed; call again to retry them)"
    lines.append(f"[{counts}; {found.batches} worker call(s) now: {found.tokens_in + found.tokens_out} tokens, "
                 f"${found.cost_usd:.4f}" + (f"; {more} more item(s): gather_evidence(..., k={k + more})"
                                             if more > 0 else "") + "]")
    if found.stopped:
        lines.append(f"[stopped early: {found.stopped}]")
    lines.append("Cite items as shown; quote only what they quote.")
    return "\n".join(lines)


def question_items(ws: Workspace) -> dict[str, list[EvidenceItem]]:
    """Every question gathered in the workspace -> its kept items (for the report and the reviewer)."""
    by_key: dict[str, tuple[str, dict[str, EvidenceItem]]] = {}
    for record in ws.steps():
        if record.get("type") == "evidence":
            question, items = by_key.setdefault(str(record.get("question_key")),
                                                (str(record.get("question") or ""), {}))
            for item in record.get("items") or []:
                items[str(item.get("passage_id"))] = item
    out = {}
    for question, items in by_key.values():
        g = Gathered(question, items=list(items.values()))
        out[question] = g.kept()
    return out


def disagreements(ws: Workspace) -> list[tuple[str, dict[str, list[str]]]]:
    """(question, sides) for every gathered question whose kept items take both sides."""
    out = []
    for question, items in question_items(ws).items():
        s = sides(items)
        if s["supports"] and s["contradicts"]:
            out.append((question, s))
    return out


def evidence_for(ws: Workspace, paper_id: str, pages: tuple[int, int] | None) -> str:
    """The kept evidence items of a paper (on the cited pages, when pages are cited), as lines for the
    reviewer, who sees them before the cited text; '' when there are none."""
    lines = []
    for question, items in question_items(ws).items():
        for item in items:
            page = int(item.get("page") or item["pages"][0])
            if item["paper_id"] == paper_id and (pages is None or pages[0] <= page <= pages[1]):
                lines.append(f"- p.{page} ({item['stance']} on {question!r}): {item['summary']} “{item['quote']}”")
    return "EVIDENCE gathered earlier from this source:\n" + "\n".join(lines[:6]) if lines else ""
