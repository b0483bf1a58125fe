"""Saving a note without duplicates: compare it with its nearest notes, then add, merge, supersede or nothing.

The worker model decides when a close neighbour exists. Two guards hold whatever it says: notes that
differ in a number, a date or a qualifier are never merged, and when the model's answer is unusable
(or there is no worker model) a safe rule decides: exact and near-exact duplicates merge, the rest is added.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from agent_scientist.memory.store import MemoryStore, merge_sources, new_note_id, now_iso
from agent_scientist.memory.worker import ask, parse_json
from agent_scientist.records import Note, NoteHit

log = logging.getLogger(__name__)

NEIGHBOURS = 3  # stored notes shown to the model
ASK_SIMILARITY = 0.70  # below this, the new note is clearly new: add without a model call
NEAR_EXACT = 0.95  # the fallback rule merges at or above this (if nothing differs)
ACTIONS = ("add", "merge", "supersede", "nothing")

_NUMBER = re.compile(r"(?<![A-Za-z])[-+]?\d+(?:[.,]\d+)*")
_MONTHS = ("january february march april may june july august september october november december "
           "jan feb mar apr jun jul aug sep sept oct nov dec").split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
# Numbers written as words, and numbers glued to letters (ResNet50, Q3, fp16, v2): a number all the same.
_NUMBER_WORDS = set("""zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
thousand million billion trillion dozen half halves third thirds quarter quarters twice thrice double doubled
triple tripled quadruple first second fourth fifth once""".split())
_MIXED = re.compile(r"\b(?=[a-z_]*\d)(?=\d*[a-z])\w+\b")
_QUALIFIERS = set("""not no never none nor neither nothing nobody without cannot unless except only all some most
few many more less fewer higher lower better worse best worst larger smaller bigger faster slower longer shorter
increase increases increased decrease decreases decreased reduce reduces reduced raise raises raised improve
improves improved hurt hurts harms degrade degrades degraded boost boosts boosted significant significantly
insignificant non-significant slightly marginally substantially strongly weakly greatly dramatically modestly
barely hardly consistently may might could would should must will can likely unlikely possibly probably
always sometimes rarely often usually seldom before after above below over under least partially fully
positive negative positively negatively true false same different similar maximum minimum max min
upper lower earlier later""".split())


@dataclass
class Decision:
    action: str  # add, merge, supersede, nothing
    target: str = ""
    text: str = ""
    why: str = ""  # how it was decided (model, rule, guard), for the log and the answer
    fallback: bool = False


@dataclass
class Saved:
    note_id: str
    decision: Decision
    sources: str = ""
    warnings: list[str] = field(default_factory=list)


def _numbers(text: str) -> set[str]:
    out = set()
    for raw in _NUMBER.findall(text):
        value = raw.replace(",", "") if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+", raw) else raw.replace(",", ".")
        if "." in value:
            value = value.rstrip("0").rstrip(".")
        out.add(value.lstrip("+"))
    return out


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z][a-z'-]*", text.lower()))


def differs(a: str, b: str) -> str:
    """Why two notes must not be merged (a number, a date or a qualifier differs), or ''."""
    na, nb = _numbers(a), _numbers(b)
    if na != nb:
        return f"numbers differ ({', '.join(sorted(na ^ nb))})"
    wa, wb = _words(a), _words(b)
    ma, mb = set(_MIXED.findall(a.lower())), set(_MIXED.findall(b.lower()))
    numbers = ((wa ^ wb) & _NUMBER_WORDS) | (ma ^ mb)
    if numbers:
        return f"numbers differ ({', '.join(sorted(numbers))})"
    dates = (wa ^ wb) & set(_MONTHS + _WEEKDAYS)
    if dates:
        return f"dates differ ({', '.join(sorted(dates))})"
    quals = {w for w in wa ^ wb if w in _QUALIFIERS or w.endswith("n't")}
    if quals:
        return f"qualifiers differ ({', '.join(sorted(quals))})"
    return ""


def _normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def rule_decision(text: str, neighbours: list[NoteHit], why: str) -> Decision:
    """The safe rule: merge with an exact or near-exact duplicate that differs in nothing; else add."""
    for n in neighbours:
        same = _normal(n["text"]) == _normal(text)
        if (same or n["similarity"] >= NEAR_EXACT) and not differs(text, n["text"]):
            return Decision("merge", n["id"], n["text"] if len(n["text"]) >= len(text) else text,
                            why=f"{why}; rule: near-exact duplicate", fallback=True)
    return Decision("add", why=f"{why}; rule: add", fallback=True)


def model_decision(model: Any, note: Note, neighbours: list[NoteHit]) -> Decision:
    """Ask the worker model; an unusable answer falls back to the rule, and is logged."""
    listing = "\n".join(f"[{n['id']}] ({n['kind']}, {n['source'] or 'no source'}) {n['text']}" for n in neighbours)
    try:
        reply = ask(model, "consolidate", text=note["text"], kind=note["kind"], source=note["source"] or "none",
                    neighbours=listing)
    except Exception as exc:
        log.warning("memory: consolidation model call failed (%s); using the safe rule", exc)
        return rule_decision(note["text"], neighbours, f"model failed: {type(exc).__name__}")
    data = parse_json(reply)
    ids = {n["id"] for n in neighbours}
    action = str(data.get("action", "")).strip().lower() if isinstance(data, dict) else ""
    target = str(data.get("target") or "").strip().strip("[]") if isinstance(data, dict) else ""
    if action not in ACTIONS or (action != "add" and target not in ids):
        log.warning("memory: unusable consolidation answer %r; using the safe rule", reply[:200])
        return rule_decision(note["text"], neighbours, "unusable model answer")
    text = str(data.get("text") or "").strip() if action == "merge" else ""
    return Decision(action, target if action != "add" else "", text, why="model")


def guard(decision: Decision, note: Note, neighbours: list[NoteHit]) -> Decision:
    """Refuse a merge (or 'nothing') between notes that differ in a number, a date or a qualifier."""
    if decision.action not in ("merge", "nothing"):
        return decision
    target = next(n for n in neighbours if n["id"] == decision.target)
    reason = differs(note["text"], target["text"])
    if not reason and decision.action == "merge" and decision.text and differs(decision.text, target["text"]):
        # The merged text drops or alters a number or qualifier: keep the stored wording.
        decision = Decision("merge", decision.target, "", why=f"{decision.why}; merged text rejected",
                            fallback=decision.fallback)
    if reason:
        log.info("memory: not merging with %s: %s", target["id"], reason)
        return Decision("add", why=f"{decision.why}; guard: {reason}", fallback=decision.fallback)
    return decision


def save_note(store: MemoryStore, note: Note, worker_model: Any = None) -> Saved:
    """Store `note` (text, kind, source, page, tags, step) after consolidation; returns what happened."""
    vector = store.embed([note["text"]])[0]
    neighbours = store.nearest_notes(vector, NEIGHBOURS)
    close = [n for n in neighbours if n["similarity"] >= ASK_SIMILARITY]
    if not close:
        decision = Decision("add", why="no close note")
    elif any(_normal(n["text"]) == _normal(note["text"]) for n in close):
        decision = rule_decision(note["text"], close, "exact duplicate")  # no need to ask
        decision.fallback = False
    elif worker_model is None:
        decision = rule_decision(note["text"], close, "no worker model")
    else:
        decision = model_decision(worker_model, note, close)
    decision = guard(decision, note, close)
    if decision.fallback:
        (log.warning if worker_model is not None else log.info)("memory: consolidation fallback for %r: %s", note["text"][:80], decision.why)
    stamp = now_iso()
    if decision.action in ("merge", "nothing"):
        # a neighbour is the stored note plus its `similarity`, which update_note does not store
        target = next(n for n in close if n["id"] == decision.target)
        merged: NoteHit = {**target, "source": merge_sources(target["source"], note.get("source", "")),
                           "tags": sorted(set(target["tags"]) | set(note.get("tags") or [])),
                           "page": target["page"] or note.get("page", 0)}
        if decision.action == "merge" and decision.text:
            merged["text"] = decision.text
        store.update_note(merged)
        return Saved(target["id"], decision, merged["source"])
    new: Note = {**note, "id": new_note_id(), "status": "active", "created_at": stamp, "updated_at": stamp}
    store.add_notes([new], vectors=vector[None, :])
    if decision.action == "supersede":
        store.set_status(decision.target, "superseded")
    return Saved(new["id"], decision, new.get("source", ""))


MAX_NOTE_CHARS = 2000


def prepare_note(content: str, kind: str = "finding", source: str = "", page: int = 0, tags: Any = "",
                 step: int = 0) -> tuple[Note, list[str]]:
    """A clean note dict and warnings; raises ValueError (with what to do) for an empty note or unknown kind."""
    from agent_scientist.memory.store import KINDS

    text = str(content or "").strip()
    if not text:
        raise ValueError("The note is empty: pass the finding itself as `content`.")
    kind = (kind or "finding").strip().lower()
    if kind not in KINDS:
        raise ValueError(f"Unknown kind {kind!r}: use one of {', '.join(KINDS)}.")
    warnings = []
    if len(text) > MAX_NOTE_CHARS:
        warnings.append(f"The note was cut from {len(text)} to {MAX_NOTE_CHARS} characters: "
                        "save one finding per note.")
        text = text[:MAX_NOTE_CHARS]
    try:
        page = max(0, int(page or 0))
    except (TypeError, ValueError):
        raise ValueError(f"page must be a whole number, not {page!r}.") from None
    tag_list = tags if isinstance(tags, list) else str(tags or "").split(",")
    note = Note(text=text, kind=kind, source=str(source or "").strip(), page=page,
                tags=sorted({str(t).strip() for t in tag_list if str(t).strip()}), step=int(step or 0))
    return note, warnings


def describe(saved: Saved) -> str:
    """The short answer `remember` gives the model."""
    d = saved.decision
    if d.action == "merge":
        text = f"Already stored as {saved.note_id}: merged into it (sources: {saved.sources or 'none'})."
    elif d.action == "nothing":
        text = f"Nothing new: {saved.note_id} already says this (sources: {saved.sources or 'none'})."
    elif d.action == "supersede":
        text = f"Saved note {saved.note_id}; it supersedes {d.target} (kept, marked superseded)."
    else:
        text = f"Saved note {saved.note_id}."
    return " ".join([text, *saved.warnings])
