"""The memory capability's registration: tools `remember` and `recall`, the managed agent `memory`,
history trimming, end-of-run lessons, and lessons from earlier runs in the planner's instructions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent_scientist.contracts import Check, Toolbox, ToolContext, ToolError
from agent_scientist.memory import MemoryUnavailable, open_memory
from agent_scientist.memory.consolidate import describe, prepare_note, save_note
from agent_scientist.memory.evidence import EVIDENCE_KIND
from agent_scientist.memory.evidence import MAX_K as EVIDENCE_MAX_K
from agent_scientist.memory.trim import HistoryTrimmer
from agent_scientist.memory.worker import ask, parse_json, prompts
from agent_scientist.records import RecallHit

if TYPE_CHECKING:
    from agent_scientist.memory.store import MemoryStore

log = logging.getLogger(__name__)

MEMORY_GUIDE = ("Notes: `remember(content, kind, source, page)` each finding with its source right after "
                "reading it; `recall(query)` before re-reading anything.")
EVIDENCE_GUIDE = ("Evidence: once you have papers, call `gather_evidence(question)` (or with `paper_ids`) before "
                  "answering instead of reading every page: the worker model scores the best passages and quotes them. "
                  "Cite the items it lists exactly as shown, and when it reports a disagreement, say so in the "
                  "answer, naming the papers on each side.")
MAX_K = 20
LESSONS_CHARS = 1500  # of lessons put in the planner's instructions
MAX_LESSONS = 3  # written per run
LESSON_CHARS = 300
LIST_LIMIT = 30


def _store(cap: MemoryCapability) -> MemoryStore:
    if cap.store is None:
        raise ToolError("Memory is unavailable in this run (see the warning at start). "
                        "Keep important findings in a file with your other tools instead.")
    return cap.store


def _failed(exc: Exception) -> ToolError:
    return ToolError(f"Memory failed: {type(exc).__name__}: {str(exc)[:300]}. Try again, or go on without it.")


class MemoryCapability:
    """The workspace memory for one run; after `register`, `store` is the open store (None if unavailable)."""

    name = "memory"

    def __init__(self) -> None:
        self.store: MemoryStore | None = None

    def passage_index(self) -> Any:
        """The store as the papers' passage index (None when the memory is unavailable)."""
        return self.store

    def register(self, ctx: ToolContext, box: Toolbox) -> None:
        _register(self, ctx, box)

    def doctor_checks(self, settings: Any) -> list[Check]:
        return doctor_checks(settings)


def _register(cap: MemoryCapability, ctx: ToolContext, box: Toolbox) -> None:
    """Open the workspace memory (or say why not) and add the memory tools, agent, trimming and lessons."""
    from agent_scientist.memory.embedding import preload

    preload(ctx.settings)  # loads while chromadb opens
    try:
        cap.store = open_memory(ctx.ws, ctx.settings)
        timeout = ctx.settings.end_of_run_timeout
        cap.store.exit_wait_s = lambda: ctx.exit_wait(timeout)  # after Ctrl-C: what is left of its grace
        cap.store.embed(["warm-up"])  # an embedding model that cannot load is reported now, not mid-run
    except MemoryUnavailable as exc:
        cap.store = None
        ctx.warnings.append(f"Memory is disabled for this run: {exc}")

    def remember(content: str, kind: str = "finding", source: str = "", page: int = 0, tags: str = "") -> str:
        """Save a note to the research memory (with its source) so it can be recalled later.

        A note that repeats a stored one is merged into it, keeping both sources.

        Args:
            content: The note: one finding, with its numbers and conditions.
            kind: finding, hypothesis, method, result, question, todo or lesson.
            source: Where it comes from, e.g. "arXiv:2401.01234v2", "local:ab12cd34" or "run:3".
            page: Page of the source the note comes from (0 if none).
            tags: Comma-separated tags, e.g. "calibration,imagenet".
        """
        store = _store(cap)
        try:
            note, warnings = prepare_note(content, kind, source, page, tags, step=ctx.step)
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        try:
            saved = save_note(store, note, ctx.worker_model)
        except MemoryUnavailable as exc:
            raise ToolError(str(exc)) from None
        except Exception as exc:
            raise _failed(exc) from None
        saved.warnings.extend(warnings)
        return describe(saved)

    def recall(query: str, k: int = 5, kind: str = "", source: str = "") -> list[RecallHit]:
        """Find notes and paper passages by meaning, best first (active notes only unless kind="superseded").

        Args:
            query: What you are looking for, in plain words.
            k: Number of results (at most 20).
            kind: Only this kind of note (finding, hypothesis, method, result, question, todo, lesson);
                "passage" for paper passages only; "superseded" for retired notes. Empty for all.
            source: Only results from this source, e.g. "arXiv:2401.01234" or "run:3". Empty for all.
        """
        store = _store(cap)
        if not str(query or "").strip():
            raise ToolError("The query is empty: say in words what you are looking for.")
        kind = (kind or "").strip().lower()
        from agent_scientist.memory.store import KINDS

        if kind and kind not in (*KINDS, EVIDENCE_KIND, "passage", "superseded"):
            raise ToolError(f"Unknown kind {kind!r}: use one of {', '.join(KINDS)}, evidence, passage or superseded.")
        try:
            return store.recall(str(query), max(1, min(int(k or 5), MAX_K)), kind, source or "")
        except MemoryUnavailable as exc:
            raise ToolError(str(exc)) from None
        except Exception as exc:
            raise _failed(exc) from None

    def gather_evidence(question: str, paper_ids: str = "", k: int = 8) -> str:
        """Gather evidence for a question from the workspace's papers: the worker model reads the best ~30
        passages and gives each a relevance score, a summary, a stance and a verbatim quote (checked on the
        page). Returns the top items with citations ready to paste.

        Args:
            question: The question or claim, in plain words.
            paper_ids: Only these papers (comma-separated ids, e.g. "2401.01234v2, local:ab12cd34"); empty for all.
            k: Number of items to list (at most 20).
        """
        return run_gather(cap, ctx, question, paper_ids, k)

    box.add_functions(remember, recall)
    box.add_functions(gather_evidence)
    box.instructions.append(MEMORY_GUIDE)
    box.instructions.append(EVIDENCE_GUIDE)

    if ctx.worker_model is not None:
        box.managed_agents.append(_memory_agent(cap, ctx, [recall, remember]))
    box.step_callbacks.append(HistoryTrimmer(ctx, ctx.settings.context_threshold_tokens, store=cap.passage_index))
    box.run_end_hooks.append(lambda agent, status: write_lessons(ctx, cap.store, agent, status))
    if cap.store is not None:
        text = lessons_instructions(cap.store)
        if text:
            box.instructions.append(text)


def run_gather(cap: MemoryCapability, ctx: ToolContext, question: str, paper_ids: str, k: int) -> str:
    """gather_evidence's work: check the arguments, gather, describe; failures become short observations."""
    from agent_scientist.memory.evidence import describe, gather
    from agent_scientist.papers.ids import aliases, match_key

    store = _store(cap)
    question = " ".join(str(question or "").split())
    if not question:
        raise ToolError("The question is empty: say in words what the evidence should answer.")
    if ctx.worker_model is None:
        raise ToolError("No model is configured to read the evidence; read the papers' pages instead.")
    known = {match_key(str(m["id"])): str(m["id"]) for m in ctx.ws.papers()}
    for m in ctx.ws.papers():  # the arXiv id of a local PDF, the DOI of an arXiv paper: the same paper
        for alias in aliases(m):
            known.setdefault(match_key(alias), str(m["id"]))
    ids, missing = [], []
    for part in str(paper_ids or "").replace(";", ",").split(","):
        if part.strip():
            key = match_key(part.strip())
            (ids.append(known[key]) if key in known else missing.append(part.strip()))
    if missing:
        raise ToolError(f"Not in this workspace: {', '.join(missing)}. Read them first (read_paper) or leave "
                        "paper_ids empty for all papers.")
    if not ids and not known:
        raise ToolError("The workspace has no papers yet: search_papers and read_paper first.")
    try:
        found = gather(ctx.ws, ctx.settings, store, ctx.worker_model, question, ids)
    except MemoryUnavailable as exc:
        raise ToolError(str(exc)) from None
    return describe(found, max(1, min(int(k or 8), EVIDENCE_MAX_K)))


def lessons_instructions(store: Any, limit: int = LESSONS_CHARS) -> str:
    """Active lessons from earlier runs, newest first, within `limit` characters."""
    try:
        lessons = store.list_notes(kinds=["lesson"], status="active")
    except Exception as exc:
        log.warning("memory: could not read lessons: %s", exc)
        return ""
    header = "Lessons from earlier runs in this workspace (what worked, what to avoid):"
    lines, used = [], len(header)
    for note in sorted(lessons, key=lambda n: (n["updated_at"], n["id"]), reverse=True):
        line = f"- {note['text'][:LESSON_CHARS]}"
        if used + len(line) + 1 > limit:
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join([header, *lines]) if lines else ""


def write_lessons(ctx: ToolContext, store: Any, agent: Any, status: str) -> list[str]:
    """Run-end hook: the worker model writes a few `lesson` notes about this run; returns their ids."""
    from agent_scientist.agent.adapter import ActionStep, history_steps
    from agent_scientist.memory.trim import describe_step

    if store is None or ctx.worker_model is None:
        return []
    steps = [s for s in history_steps(agent) if isinstance(s, ActionStep)][-12:]
    if not steps:
        return []
    log_text = "\n\n".join(describe_step(s, 800) for s in steps)
    try:
        reply = ask(ctx.worker_model, "lessons", task=str(getattr(agent, "task", "") or "")[:1000],
                    status=status, steps=log_text, max_lessons=MAX_LESSONS)
    except Exception as exc:
        log.warning("memory: lessons by the worker model failed: %s", exc)
        return []
    lessons = parse_json(reply)
    if not isinstance(lessons, list):
        log.warning("memory: unusable lessons answer %r; no lessons written", reply[:200])
        return []
    ids = []
    for text in lessons[:MAX_LESSONS]:
        if not isinstance(text, str) or not text.strip():
            continue
        note, _ = prepare_note(text[:LESSON_CHARS], "lesson", "", 0, "", step=ctx.step)
        try:
            ids.append(save_note(store, note, ctx.worker_model).note_id)
        except Exception as exc:
            log.warning("memory: could not save a lesson: %s", exc)
    return ids


def _memory_agent(cap: MemoryCapability, ctx: ToolContext, shared: list[Callable[..., Any]]) -> Any:
    """The managed agent `memory`: open-ended questions and reorganisation, on the worker model."""
    from agent_scientist.agent.adapter import make_tool, managed_agent

    def browse_notes(kind: str = "", offset: int = 0) -> str:
        """List active notes, oldest first, 30 at a time.

        Args:
            kind: Only this kind (finding, hypothesis, method, result, question, todo, lesson); empty for all.
            offset: How many notes to skip (for the next page).
        """
        notes = _store(cap).list_notes(kinds=[kind] if kind else None)
        page = notes[offset : offset + LIST_LIMIT]
        lines = []
        for n in page:
            where = (n["source"] or "no source") + (f" p.{n['page']}" if n["page"] else "")
            lines.append(f"[{n['id']}] ({n['kind']}, {where}) {n['text'][:300]}")
        more = len(notes) - offset - len(page)
        if more > 0:
            lines.append(f"... {more} more: browse_notes(kind={kind!r}, offset={offset + LIST_LIMIT})")
        return "\n".join(lines) or "No notes."

    def update_note(note_id: str, text: str) -> str:
        """Rewrite a note's text (e.g. to merge a duplicate into it); its sources and kind stay.

        Args:
            note_id: The note's id, e.g. "n-1a2b3c4d5e".
            text: The new text; keep every number and qualifier.
        """
        store = _store(cap)
        found = store.get_notes([note_id])
        if not found:
            raise ToolError(f"No note {note_id!r}. Use browse_notes() or recall() to find ids.")
        note, _ = prepare_note(text, found[0]["kind"])
        store.update_note({**found[0], "text": note["text"]})
        return f"Updated {note_id}."

    def supersede_note(note_id: str, by: str = "") -> str:
        """Mark a note superseded (outdated or duplicated); it is kept, never deleted.

        Args:
            note_id: The note to retire.
            by: The id of the note that replaces it, if any.
        """
        store = _store(cap)
        if not store.get_notes([note_id]):
            raise ToolError(f"No note {note_id!r}. Use browse_notes() or recall() to find ids.")
        store.set_status(note_id, "superseded")
        return f"{note_id} is now superseded" + (f" by {by}." if by else ".")

    spec = prompts()["agent"]
    own: list[Callable[..., Any]] = [browse_notes, update_note, supersede_note]
    return managed_agent(
        tools=[make_tool(fn) for fn in [*shared, *own]],
        model=ctx.worker_model,
        name="memory",
        description=" ".join(spec["description"].split()),
        instructions=spec["instructions"],
        max_steps=6,
        settings=ctx.settings,
    )


def doctor_checks(settings: Any) -> list[Check]:
    """For `agent-scientist doctor`: the embedding model answers, and the Chroma server (if set) is up."""
    from agent_scientist.memory.embedding import EmbeddingError, LocalEmbedder, get_embedder, resolve_runtime

    checks = []
    if settings.model and not settings.worker_model:
        checks.append(("evidence", True, f"no worker_model set: gather_evidence reads passages on the planner model "
                       f"{settings.model}, at planner prices; set worker_model to a cheaper model"))
    elif settings.worker_model:
        checks.append(("evidence", True, f"gather_evidence on the worker model {settings.worker_model}, "
                       f"{settings.evidence_concurrency} call(s) in flight"))
    try:
        runtime = resolve_runtime(settings.embedding_runtime)
        embedder = get_embedder(settings.embedding_model or "local", settings.api_base, runtime)
        vector = embedder.embed(["doctor check"])[0]
        on = f" on {runtime}" if isinstance(embedder, LocalEmbedder) else ""
        checks.append(("embedding model", True, f"{settings.embedding_model or 'local'}{on}: {len(vector)} dimensions"))
    except EmbeddingError as exc:
        checks.append(("embedding model", False, str(exc)))
    if settings.memory_url:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        from agent_scientist.memory.store import parse_url

        host, port, ssl = parse_url(settings.memory_url)
        try:
            chromadb.HttpClient(host=host, port=port, ssl=ssl,
                                settings=ChromaSettings(anonymized_telemetry=False)).heartbeat()
            checks.append(("memory server", True, settings.memory_url))
        except Exception as exc:
            checks.append(("memory server", False, f"{settings.memory_url} is not reachable ({type(exc).__name__}); "
                           "start it with `chroma run --path DIR --port N` or unset memory_url"))
    return checks
