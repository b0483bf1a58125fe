"""The check: each cited claim against the text it cites, with the worker model's verdict and a quote
that the code itself must find in that text.

The quote check is papers/quotes.py (the same code checks gather_evidence's quotes).

A verdict that asserts something about the text (supported, partial, contradicted) stands only with a
found quote; otherwise, and for any reply that is missing, unreadable, an error or a timeout, the
verdict is `unverified`. `unsupported` needs no quote.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

from agent_scientist.config import Settings
from agent_scientist.papers.quotes import MAX_QUOTE_CHARS, find_quote, paper_pages, quote_problem
from agent_scientist.prompting import load, render
from agent_scientist.records import Chunk, ClaimVerdict, PassageHit
from agent_scientist.review.claims import Claim
from agent_scientist.workspace import Workspace

log = logging.getLogger(__name__)
VERDICTS = ("supported", "partial", "unsupported", "contradicted", "unverified", "uncited")
MODEL_VERDICTS = ("supported", "partial", "unsupported", "contradicted")
NEEDS_QUOTE = ("supported", "partial", "contradicted")
# Best first: a claim with several citations takes the best verdict among them.
RANK = {"supported": 0, "partial": 1, "contradicted": 2, "unsupported": 3, "unverified": 4, "uncited": 5}
BATCH = 4  # claim-source pairs per worker call
SOURCE_CHARS = 6000  # cited text shown to the reviewer per pair
PASSAGES = 3  # best passages shown for a whole-paper citation
TOKENS_PER_ITEM = 200  # the reviewer's output cap per pair (a quote of 300 characters is ~75 tokens)
# (claim text, paper id) -> the paper's passages best matching the claim (the memory's, else ranked by words)
Passages = Callable[[str, str], Sequence[Chunk]]

@dataclass
class Item:
    """One claim against one cited paper: what the reviewer sees and where its quote must be."""

    claim: int
    paper_id: str
    pages: tuple[int, int] | None
    label: str  # "arXiv:2401.01234v2 p.3-4"
    shown: str  # the source text given to the reviewer
    searchable: list[tuple[int, str]] = field(default_factory=list)  # (page, text) the quote is checked in
    figure: int | None = None  # a cited figure or table: the quote must be in its caption, text or grid
    table: int | None = None
    image: Path | None = None  # a cited figure's PNG, sent with the item to a reviewer that accepts images
    figure_seen: str = ""  # what the reviewer had of a cited figure: "image", "description" or "caption"


def build_item(ws: Workspace, settings: Settings, claim: Claim, paper_id: str, pages: tuple[int, int] | None,
               passages: Passages | None = None, figure: int | None = None,
               table: int | None = None, images: bool = False) -> Item | str:
    """The cited text for one claim and paper, or why there is none; `images`: the reviewer accepts images."""
    if figure is not None or table is not None:
        return _visual_item(ws, claim, paper_id, pages, figure, table, images)
    all_pages = paper_pages(ws, paper_id)
    if not all_pages:
        return f"the workspace holds no text for {paper_id}"
    if pages:
        first, last = pages
        chosen = [(n, all_pages[n - 1]) for n in range(first, min(last, len(all_pages)) + 1)]
        if not chosen:
            return f"{paper_id} has no page {first}"
        label = f"{paper_id} p.{first}" + (f"-{last}" if last != first else "")
        shown = "\n\n".join(f"[page {n}]\n{text}" for n, text in chosen)
        shown = "\n\n".join(x for x in (_evidence(ws, paper_id, pages), shown) if x)
        return Item(claim.number, paper_id, pages, label, shown[:SOURCE_CHARS], chosen)
    hits = passages(claim.plain, paper_id) if passages else []
    if not hits:
        hits = _lexical_passages(all_pages, claim.plain)
    shown = "\n\n".join(f"[p.{h.get('page_start')}] {' '.join(str(h.get('text', '')).split())}" for h in hits)
    shown = "\n\n".join(x for x in (_evidence(ws, paper_id, None), shown) if x)
    return Item(claim.number, paper_id, None, paper_id, shown[:SOURCE_CHARS] or all_pages[0][:SOURCE_CHARS],
                list(enumerate(all_pages, start=1)))


def _evidence(ws: Workspace, paper_id: str, pages: tuple[int, int] | None) -> str:
    """gather_evidence's items on this source, shown to the reviewer first (memory/evidence.py)."""
    from agent_scientist.memory.evidence import evidence_for

    return evidence_for(ws, paper_id, pages)


def _visual_item(ws: Workspace, claim: Claim, paper_id: str, pages: tuple[int, int] | None, figure: int | None,
                 table: int | None, images: bool = False) -> Item | str:
    """A cited table (its caption and markdown grid) or figure (its caption and the text inside it, and its image
    for a reviewer that accepts images, else the worker's recorded description of the image when there is one)."""
    from agent_scientist.papers import visuals
    from agent_scientist.papers.describe import cached_description, image_path
    from agent_scientist.papers.layout import paper_dir
    from agent_scientist.papers.views import grid_rows

    folder = paper_dir(ws, paper_id)
    found = visuals.ensure(folder)
    if figure is None:
        grid = visuals.find_table(found, table) if table is not None else None
        if grid is None:
            return f"{paper_id} has no table {table}"
        shown = f"[Table {table}, p.{grid['page']}] {grid['caption']}\n" + "\n".join(grid_rows(grid))
        return Item(claim.number, paper_id, pages, f"{paper_id} Table {table}", shown[:SOURCE_CHARS],
                    [(grid["page"], shown)], figure, table)
    item = visuals.find_figure(found, figure)
    if item is None:
        return f"{paper_id} has no figure {figure}"
    label = f"{paper_id} Fig. {figure}"
    text = (f"[Figure {figure}, p.{item['page']}] {item['caption']}\nText inside the figure: "
            f"{item.get('text') or '(none)'}")[:SOURCE_CHARS]
    image = image_path(folder, item) if images else None
    described = cached_description(folder, item) if image is None else None
    shown, seen = text, "image" if image is not None else "caption"
    if described is not None:
        shown, seen = text + DESCRIBED.format(by=described.get("model") or "the worker", text=described["text"]), \
            "description"
    return Item(claim.number, paper_id, pages, label, shown[:SOURCE_CHARS + 2400], [(int(item["page"]), text)],
                figure, table, image, seen)


# A cited figure's recorded description, shown to a reviewer that cannot see the image: not quotable.
DESCRIBED = ("\nDESCRIPTION OF THE IMAGE by the model {by} (its reading of the image, not the paper's words: judge "
             "with it, never quote it):\n{text}")


def _lexical_passages(pages: list[str], query: str) -> list[Chunk]:
    from agent_scientist.papers.lexical import bm25, tokens
    from agent_scientist.papers.store import chunk_pages

    chunks = chunk_pages(pages)
    scores = bm25(tokens(query), [c["text"] for c in chunks])
    ranked = sorted(((s, i) for i, s in enumerate(scores) if s > 0), reverse=True)[:PASSAGES]
    return [chunks[i] for _s, i in ranked] or chunks[:1]


def memory_passages(ws: Workspace, settings: Settings) -> Passages | None:
    """The memory's paper passages as a search function, or None when the workspace has no memory."""
    if not settings.memory_url and not (ws.memory_dir / "chroma.sqlite3").exists():
        return None
    store: Any = None
    failed = False

    def search(query: str, paper_id: str) -> list[PassageHit]:
        nonlocal store, failed
        try:
            if store is None:
                from agent_scientist.memory import open_memory

                store = open_memory(ws, settings)
            return [h for h in store.search_passages(query, PASSAGES, paper_id) if h.get("text")]
        except Exception as exc:  # memory is an aid here: the lexical ranking stands in, and the log says why
            if not failed:
                log.warning("review: memory passages of %s unavailable, ranking by words instead: %s",
                            ws.name, exc, exc_info=True)
            failed = True
            return []

    return search


# -- the reviewer --------------------------------------------------------------
def render_items(items: list[Item], claims: dict[int, Claim]) -> str:
    """The items as the reviewer reads them; a figure sent as an image names its place among the attached images."""
    blocks = []
    attached = 0
    for n, item in enumerate(items, start=1):
        image = ""
        if item.image is not None:
            attached += 1
            image = f"\nIMAGE: the figure itself is attached below as image {attached}."
        blocks.append(f"ITEM {n}\nCLAIM: {claims[item.claim].plain}\nSOURCE ({item.label}):\n<<<\n{item.shown}\n>>>"
                      + image)
    return "\n\n".join(blocks)


class Reply(TypedDict):
    """What the reviewer said of one item, before any check."""

    verdict: str  # lower case
    quote: str


def parse_verdicts(reply: str, count: int) -> dict[int, Reply] | None:
    """Item number -> {verdict, quote} from the reviewer's reply; None when the reply cannot be read."""
    from agent_scientist.memory.worker import parse_json

    data = parse_json(reply or "")
    if isinstance(data, dict):
        data = data.get("verdicts", data.get("items"))
    if not isinstance(data, list):
        return None
    out: dict[int, Reply] = {}
    for position, entry in enumerate(data, start=1):
        if not isinstance(entry, dict):
            continue
        try:
            number = int(entry.get("item", position))
        except (TypeError, ValueError):
            continue
        if 1 <= number <= count and number not in out:
            out[number] = {"verdict": str(entry.get("verdict") or "").strip().lower(),
                           "quote": str(entry.get("quote") or "").strip()}
    return out


def judge(item: Item, answer: Reply | None, failure: str = "") -> ClaimVerdict:
    """The recorded verdict for one item: the model's verdict only where its quote is found."""
    base: ClaimVerdict = {"claim": item.claim, "paper_id": item.paper_id,
                          "pages": list(item.pages) if item.pages else None}
    if item.figure is not None:
        base["figure"] = item.figure
    if item.table is not None:
        base["table"] = item.table
    if item.figure is not None and item.figure_seen:
        base["figure_seen"] = item.figure_seen
    base.update({"model_verdict": None, "quote": "", "found_page": None})
    if answer is None:
        return {**base, "verdict": "unverified", "why": failure or "the reviewer gave no verdict for this claim"}
    verdict, quote = answer["verdict"], answer["quote"][:MAX_QUOTE_CHARS + 1]
    base.update({"model_verdict": verdict or None, "quote": quote})
    if verdict not in MODEL_VERDICTS:
        return {**base, "verdict": "unverified", "why": f"the reviewer's verdict {verdict[:40]!r} is not one we know"}
    if verdict not in NEEDS_QUOTE:
        return {**base, "verdict": verdict, "why": ""}
    if not quote:
        return {**base, "verdict": "unverified", "why": f"the reviewer said {verdict} without a quote"}
    problem = quote_problem(quote)
    if problem:
        return {**base, "verdict": "unverified", "why": problem}
    page = find_quote(quote, item.searchable)
    if page is None:
        where = f"on {item.label}" if item.pages else f"in {item.label}"
        return {**base, "verdict": "unverified", "why": f"the quote is not {where}"}
    return {**base, "verdict": verdict, "found_page": page, "why": ""}


def review_batch(model: Any, items: list[Item], claims: dict[int, Claim],
                 ask: Callable[[Any, str, str, int], tuple[str, int, int]]) -> tuple[list[ClaimVerdict], int, int]:
    """One worker call for a batch: (verdicts, tokens in, tokens out). Never raises but for Ctrl-C."""
    spec = load("reviewer")
    images = [item.image for item in items if item.image is not None]
    extra = {"images": images} if images else {}
    try:
        reply, tokens_in, tokens_out = ask(model, spec["system"].strip(),
                                           render(spec["user"], items=render_items(items, claims)),
                                           TOKENS_PER_ITEM * len(items) + 100, **extra)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a timeout, a 5xx after retries, a refused request: unverified, never fatal
        if images and not isinstance(exc, TimeoutError):  # a server refusing images: once more, captions only
            log.warning("review: the reviewer refused the figure images (%s); checking with captions only", exc)
            return review_batch(model, [replace(i, image=None, figure_seen="caption") if i.image else i
                                        for i in items], claims, ask)
        why = f"the reviewer call failed: {' '.join(str(exc).split())[:200] or type(exc).__name__}"
        return [judge(item, None, why) for item in items], 0, 0
    parsed = parse_verdicts(reply, len(items))
    if parsed is None:
        why = "the reviewer's answer could not be read" if reply.strip() else "the reviewer's answer was empty"
        return [judge(item, None, why) for item in items], tokens_in, tokens_out
    return [judge(item, parsed.get(n)) for n, item in enumerate(items, start=1)], tokens_in, tokens_out
