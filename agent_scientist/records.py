"""The records a workspace keeps, defined once: workspace.json, steps.jsonl, runs.jsonl, papers, notes.

They are TypedDicts because they are JSON on disk: every reader and writer names the record it handles,
and a record read from an older workspace (fewer fields, no `v`) is still a valid record. `v` is the
record format version (SCHEMA_VERSION); readers accept every earlier version (the first landing wrote
`v: 1` on steps and runs, `version: 1` in workspace.json, and no version on papers and notes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict

SCHEMA_VERSION = 1

StepType = Literal["run_start", "action", "planning", "summary", "run_end", "claim_check", "review", "evidence"]
Status = Literal["created", "running", "interrupted", "failed", "completed"]


# The one vocabulary for how a run ended, in the live view, `list`, `show`, report.md and JSON alike.
STOP_WORDS = {"max_steps": "stopped: max steps", "budget": "stopped: budget", "interrupted": "interrupted: Ctrl-C"}
KILLED = "killed"


def stop_label(status: str | None, reason: str | None = None, held: bool = True) -> str:
    """How a run ended, in words: completed, stopped: max steps|budget, interrupted: Ctrl-C, killed, failed: <cause>.

    `held` is whether a live process holds the workspace: a 'running' one that none holds was killed. Older
    workspaces (status 'interrupted', reason 'max_steps' or free words) read in the same words."""
    status, reason = status or "", " ".join(str(reason or "").split())
    if status == "running":
        return "running" if held else KILLED
    if status == "interrupted":
        return STOP_WORDS.get(reason, "interrupted: Ctrl-C")  # Ctrl-C or SIGTERM, whatever words were kept
    if status == "failed":
        return f"failed: {reason}" if reason else "failed"
    return status or "unknown"


class WorkspaceMeta(TypedDict, total=False):
    """workspace.json: replaced atomically on every change."""

    v: int
    version: int  # the first landing's name for `v`; still written for older readers
    name: str
    question: str
    status: Status
    stop_reason: str | None
    models: dict[str, str]  # {"planner": ..., "worker": ...}
    api_base: str | None
    memory_url: str | None
    created_at: str
    updated_at: str
    steps: int  # planner action steps, all runs
    tokens_in: int  # planner and worker tokens together
    tokens_out: int
    cost_usd: float
    eval: EvalOfWorkspace  # a workspace run by `eval` (agent_scientist.evals)


class ToolCall(TypedDict):
    """One tool call of a step's code (action steps' `tool_calls`): evals read which papers were read from it."""

    tool: str
    args: dict[str, Any]  # by parameter name; scalars only, strings cut at 200 characters
    ok: bool  # False: the tool raised (the model read the error)


class StepRecord(TypedDict, total=False):
    """One line of steps.jsonl, appended and flushed when the step ends; `type` says which fields apply."""

    v: int
    type: StepType
    step: int  # action/planning: the planner step number (global across runs)
    # timing and usage (action, planning)
    started_at: str | None
    ended_at: str | None
    start_ts: float | None
    end_ts: float | None
    duration_s: float
    tokens_in: int
    tokens_out: int
    cost_usd: float
    worker_tokens_in: int  # the worker model's usage during this step (memory, summaries, reviews)
    worker_tokens_out: int
    worker_cost_usd: float
    cut: bool  # action/planning: the model's output reached max_output_tokens (the next prompt says so)
    # action
    model_output: str | None
    code: str | None
    observation: str | None
    error: str | None
    final_answer: str | None  # present on the step that ended with an answer (None: it gave no value)
    tool_calls: list[ToolCall]  # the tools the step's code called, in order (absent: none, or an older version)
    # planning
    plan: str
    # run_start
    task: str | None  # run_start: the planner's task; review: the revision asked for (None: the answer stands)
    instruction: str | None
    resumed: bool
    # summary (history trimming): steps covers[0]..covers[1] folded into text
    covers: list[int]
    text: str
    # run_end
    status: Status
    reason: str
    log: str  # run_end of a failed run: the workspace file with its traceback (run.log)
    end_of_run_skipped: str  # run_end: the end-of-run hooks that did not finish in time
    # claim_check (one reviewer call) and review (one checked answer): agent_scientist.review.revise
    answer_step: int | None  # the action step whose final answer was checked (None: an old record without `step`)
    answer_sha: str  # sha256 prefix of that answer
    reviewer: str  # the worker model that gave the verdicts
    verdicts: list[ClaimVerdict]  # claim_check: one per claim and cited source of the batch
    round: int  # review: 1 for the first check in a run, 0 for `verify`
    by: str  # review: "run" or "verify"
    claims: list[ReviewClaim]  # review: each claim with its verdict and evidence
    counts: dict[str, int]  # review: claims per verdict
    revise: bool  # review: whether the planner was sent back to revise (its `task`)
    # evidence (one gather_evidence worker call): agent_scientist.memory.evidence; `reviewer` is its model
    question: str
    question_key: str  # memory.evidence.question_key: the cache key with each item's passage_id
    items: list[EvidenceItem]  # the batch's judged passages


class ModelCall(TypedDict, total=False):
    """One model request in flight, as inflight.json records it (agent/models.CallLog)."""

    role: str  # planner or worker
    model: str
    started_at: float  # epoch seconds when the call began (its first try)
    attempt: int  # the try in progress (1 = first)
    tries: int  # the most tries this call may make
    tokens: int  # output tokens streamed so far in this try (about one a chunk)


class Inflight(TypedDict, total=False):
    """<workspace>/inflight.json: the model calls in flight in the run's process, replaced atomically at each
    call's start and end and at most once a second while tokens stream; removed when none is in flight."""

    v: int
    pid: int  # the run's process (the workspace lock's holder): a file a killed run left names a dead one
    updated_at: float  # epoch seconds
    calls: list[ModelCall]


class Placement(TypedDict, total=False):
    """Where an experiment ran (experiments.executors' Outcome.placement), recorded on its RunRecord."""

    executor: str  # local or ray
    node: str  # host name
    node_ip: str  # ray
    node_id: str  # ray
    resources: dict[str, float]  # ray: what the run asked the cluster for
    left_on_worker: list[str]  # ray: files over ray_max_download_mb, left on the node
    kept_dir: str  # ray: where they are


class RunRecord(Placement, total=False):
    """One line of runs.jsonl: an experiment run and what it produced (and where: its Placement keys)."""

    v: int
    run: int
    script: str
    args: str
    command: list[str]
    started_at: str
    duration_s: float
    exit_code: int | None
    timed_out: bool
    interrupted: bool
    artifacts: list[str]  # files under files/ the run created or changed
    metrics: dict[str, Any] | None  # the script's metrics.json
    output_dir: str  # runs/<n>, relative to files/
    protections: dict[str, bool]
    step: int  # the planner step that ran it
    gpus: list[str]  # the GPUs the run could see, e.g. "0: NVIDIA H200, 140 GiB"
    stopped: str  # the sandbox stopped it early: "write limit" or "memory limit"
    error: str  # the run was lost (worker or cluster gone)


class TokenUsage(TypedDict):
    """Tokens and cost summed over step records (workspace.evidence_usage: gather_evidence's worker calls)."""

    tokens_in: int
    tokens_out: int
    cost_usd: float


class Usage(TokenUsage):
    """Planner steps, tokens and cost (workspace._usage): workspace.json's counters; show and the report read them."""

    steps: int


class Repaired(TypedDict):
    """What Workspace.repair did (the `repair` command prints it): lines moved aside, records kept, the counters."""

    moved: list[int]  # steps.jsonl line numbers moved to corrupt_file
    kept: int
    corrupt_file: str
    runs_moved: list[int]
    runs_kept: int
    runs_corrupt_file: str
    counters: Usage  # workspace.json's after the repair (never lowered)


class PaperMeta(TypedDict, total=False):
    """papers/<key>/meta.json: written last, so its presence means the paper is complete."""

    v: int
    id: str  # canonical id: 2401.01234v2, hep-th/9901001v1, local:<hash>
    title: str
    authors: list[str]
    abstract: str
    published: str
    updated: str
    categories: list[str]
    comment: str
    pdf_url: str
    source: str  # where the paper came from: arxiv, local, or the index that found it (papers.sources)
    file: str  # paper.pdf
    pages: int  # pages extracted
    total_pages: int  # when the PDF had more pages than were extracted
    added_at: str
    sha256: str
    # papers.store.paper_meta: every paper; the rest below only when known (store.OPTIONAL_META, WORK_META)
    year: int | None
    primary_category: str
    abs_url: str
    doi: str  # papers.ids normal form (lower case)
    arxiv_id: str  # a non-arXiv paper (local PDF, DOI) that is also on arXiv
    s2_id: str
    openalex_id: str
    venue: str
    citation_count: int | None
    publication_type: str
    retracted: bool
    tldr: str
    open_access: bool
    original_path: str  # local: the file it was added from
    local_id: str  # the arXiv copy of a local PDF that printed its arXiv id: the local paper's id
    scanned: bool  # some pages had no text layer (papers.pdf)
    full_text: bool  # False: no full text anywhere, only the abstract (pages is 0)
    full_text_note: str  # why there is no full text
    full_text_from: str  # where a full text other than the PDF came from (Europe PMC's JATS XML)
    pmcid: str
    pmid: str
    mesh: list[str]  # PubMed's MeSH terms
    publication_types: list[str]
    notices: list[str]  # retraction, correction and concern notices linked to the paper
    references_deposited: int  # how many references Crossref holds for the DOI


# -- memory: notes, their stored form, what a search finds, passages, evidence items (agent_scientist.memory) --
# chromadb keeps flat scalar metadata: note_to_store and the *_from_store functions convert at its
# boundary, so nothing above the store handles its dicts.

class Note(TypedDict, total=False):
    """A note in the memory, as tools and commands see it."""

    id: str
    text: str
    kind: str  # one of memory.store.KINDS
    status: str  # active or superseded
    source: str  # e.g. arXiv:2401.01234v2, local:ab12cd34, run:3; several joined by "; "
    page: int
    tags: list[str]
    step: int
    created_at: str
    updated_at: str
    # kind "evidence" only (memory/evidence.py): the question it answers, the passage's pages, the worker's view
    question: str
    pages: list[int]
    stance: str
    score: int  # the worker's relevance, 0-10 (a search's similarity is NoteHit.similarity)
    quote: str


class NoteMeta(TypedDict, total=False):
    """A note's flat metadata in the memory's `notes` collection (note_to_store): lists joined into strings."""

    kind: str
    status: str
    source: str
    page: int
    tags: str  # joined by ","
    step: int
    created_at: str
    updated_at: str
    # kind "evidence" only, as in Note
    question: str
    stance: str
    quote: str
    score: int
    pages: str  # joined by "-"


class NoteHit(Note, total=False):
    """A note found by MemoryStore.nearest_notes: the note and how close it is to the query."""

    similarity: float  # cosine similarity (kept apart from an evidence note's own `score`)


def note_from_store(note_id: str, text: str | None, meta: Mapping[str, Any] | None) -> Note:
    """A note from a memory row (its document and chromadb's flat metadata, NoteMeta's keys)."""
    meta = meta or {}
    tags = str(meta.get("tags") or "")
    note = Note(
        id=note_id,
        text=text or "",
        kind=meta.get("kind", "finding"),
        status=meta.get("status", "active"),
        source=meta.get("source", ""),
        page=int(meta.get("page") or 0),
        tags=[t for t in (x.strip() for x in tags.split(",")) if t],
        step=int(meta.get("step") or 0),
        created_at=meta.get("created_at", ""),
        updated_at=meta.get("updated_at", ""),
    )
    if meta.get("question"):
        note["question"] = str(meta.get("question") or "")
        note["stance"] = str(meta.get("stance") or "")
        note["quote"] = str(meta.get("quote") or "")
        note["score"] = int(meta.get("score") or 0)
        note["pages"] = [int(p) for p in str(meta.get("pages") or "").split("-") if p.isdigit()]
    return note


def note_to_store(note: Note, now: str) -> NoteMeta:
    """A note's flat metadata for the memory (lists joined; missing times become `now`)."""
    tags: list[str] | str = note.get("tags") or []
    if isinstance(tags, str):  # an untyped caller's plain dict may hold "a,b"
        tags = [t.strip() for t in tags.split(",")]
    meta = NoteMeta(
        kind=note.get("kind") or "finding",
        status=note.get("status") or "active",
        source=note.get("source") or "",
        page=int(note.get("page") or 0),
        tags=",".join(t for t in tags if t),
        step=int(note.get("step") or 0),
        created_at=note.get("created_at") or now,
        updated_at=note.get("updated_at") or note.get("created_at") or now,
    )
    if note.get("question"):
        meta["question"] = str(note.get("question") or "")
        meta["stance"] = str(note.get("stance") or "")
        meta["quote"] = str(note.get("quote") or "")
        meta["score"] = int(note.get("score") or 0)
        meta["pages"] = "-".join(str(int(p)) for p in note.get("pages") or [])
    return meta


class Chunk(TypedDict):
    """A stretch of a paper's text to index as one passage (papers.store.chunk_pages), with the pages it spans."""

    text: str
    page_start: int
    page_end: int


class PassageMeta(TypedDict, total=False):
    """A passage's flat metadata in the memory's `passages` collection (memory.passages)."""

    paper_id: str
    paper_base: str  # the paper's version-free key (papers.ids.match_key): a source filter for any version
    page_start: int
    page_end: int
    chunks: int  # the paper's passage count: an index a kill cut short is seen as incomplete (absent: older)


class PassageHit(Chunk):
    """A passage found by MemoryStore.nearest_passages / search_passages."""

    id: str  # memory.passages.passage_id: <paper_id>#<n>
    paper_id: str
    score: float  # nearest_passages: cosine similarity; search_passages: the fused rank score


def passage_from_store(passage_id: str, text: str | None, meta: Mapping[str, Any] | None,
                       score: float = 0.0) -> PassageHit:
    """A passage from a memory row (its document and chromadb's flat metadata, PassageMeta's keys)."""
    meta = meta or {}
    return PassageHit(id=passage_id, text=text or "", paper_id=meta.get("paper_id", ""),
                      page_start=int(meta.get("page_start") or 0), page_end=int(meta.get("page_end") or 0),
                      score=score)


class RecallHit(TypedDict, total=False):
    """One result of MemoryStore.recall (the `recall` tool, `memory search --json`): a note or a passage."""

    id: str
    text: str  # a passage's cut at memory.passages.PASSAGE_CHARS
    kind: str  # the note's kind, or "passage"
    source: str  # a passage: its paper's citation label
    page: int  # a passage: its first page
    score: float  # the fused rank score
    status: str  # recall(kind="superseded") only: the notes' status
    page_end: int  # passages only
    paper_id: str  # passages only


class SummaryMeta(TypedDict):
    """A trimmed-history summary's metadata in the memory's `history` collection."""

    first: int  # the first and last planner steps it covers
    last: int
    created_at: str


class HistorySummary(SummaryMeta):
    """A trimmed-history summary as MemoryStore.summaries gives it."""

    id: str  # summary-<first>-<last>
    text: str


def summary_from_store(summary_id: str, text: str | None, meta: Mapping[str, Any] | None) -> HistorySummary:
    """A summary from a memory row (its document and chromadb's flat metadata, SummaryMeta's keys)."""
    meta = meta or {}
    return HistorySummary(id=summary_id, text=text or "", first=int(meta.get("first") or 0),
                          last=int(meta.get("last") or 0), created_at=str(meta.get("created_at") or ""))


class EvidenceItem(TypedDict):
    """One passage judged for one question by gather_evidence (memory.evidence), in its `evidence` step
    record (steps.jsonl, the cache of judged passages); a kept item is also an `evidence` Note."""

    id: str  # memory.evidence.item_id(passage_id, question_key): also its note's id
    passage_id: str
    paper_id: str
    pages: list[int]  # the passage's first and last page
    page: int | None  # the page its quote was found on (None: not found)
    score: int  # the worker's relevance, 0-10
    stance: str  # one of memory.evidence.STANCES
    summary: str
    quote: str
    dropped: str  # why the item is not kept ("": kept)
    failed: NotRequired[bool]  # True: the worker call failed or its answer could not be read; judged again


# -- reading what steps.jsonl recorded (light: the report, review, evals and the live view all read it) --------

def observation_text(text: str | None) -> str:
    """The part of a smolagents observation worth showing: the printed logs and a real last value."""
    if not text:
        return ""
    logs, _, last = str(text).partition("Last output from code snippet:")
    logs = logs.replace("Execution logs:", "", 1).strip()
    last = last.strip()
    return "\n".join(part for part in (logs, "" if last == "None" else last) if part)


def short(text: str | None, limit: int = 160) -> str:
    """One line of at most `limit` characters."""
    if not text:
        return ""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# The step error of a reply with nothing to run (empty, or a code block of only comments): the model reads it.
EMPTY_REPLY = ("Your reply had no code to run (it was empty, or its code held only comments), so nothing "
               "happened. Reply with one short thought, then your code between <code> and </code>.")
NO_CODE_BLOCK = "the model wrote no code block"


def failure_kind(error: str | None) -> str:
    """What went wrong in a step, in a few words (a parse error is the model's, not the tools')."""
    text = str(error or "")
    if "Error in code parsing" in text or "regex pattern" in text:
        return NO_CODE_BLOCK
    if EMPTY_REPLY in text:
        return "the model's reply had no code to run"
    first = next((line for line in text.splitlines() if line.strip()), "")
    return short(first, 120)


def failures_summary(steps: Sequence[Mapping[str, Any]]) -> str:
    """One line on the failed steps of the latest run ("all 5 steps failed: the model wrote no code block")."""
    start = max((i for i, r in enumerate(steps) if r.get("type") == "run_start"), default=-1)
    actions = [r for r in steps[start + 1:] if r.get("type") == "action"]
    failed = [failure_kind(r["error"]) for r in actions if r.get("error")]
    if not failed:
        return ""
    common = max(set(failed), key=failed.count)
    if len(failed) == len(actions):
        return f"all {len(actions)} steps failed: {common}" if len(actions) > 1 else f"the step failed: {common}"
    return f"{len(failed)} of {len(actions)} steps failed (most often: {common})"


def answer_hash(answer: str) -> str:
    """The key a `review` record names its answer by."""
    return hashlib.sha256(answer.encode()).hexdigest()[:16]


def last_answer(records: Sequence[Mapping[str, Any]]) -> tuple[int, Mapping[str, Any]] | None:
    """(position, record) of the latest action with a final answer."""
    for pos in range(len(records) - 1, -1, -1):
        if records[pos].get("type") == "action" and records[pos].get("final_answer") is not None:
            return pos, records[pos]
    return None


def latest_review(records: Sequence[StepRecord], answer: str | None = None) -> StepRecord | None:
    """The last complete review of `answer` (default: the workspace's last answer), or None."""
    found = last_answer(records)
    if found is None:
        return None
    answer = str(found[1]["final_answer"]) if answer is None else answer
    sha = answer_hash(answer)
    for record in reversed(records):
        if record.get("type") == "review" and record.get("answer_sha") == sha:
            return StepRecord(**record)
    return None


def summary_line(counts: dict[str, int]) -> str:
    """A review record's counts in one line: '14 checked: 11 supported, 2 partial, 1 unsupported; 3 uncited'."""
    checked = sum(v for k, v in counts.items() if k != "uncited")
    order = ("supported", "partial", "unsupported", "contradicted", "unverified")
    parts = [f"{counts[k]} {k}" for k in order if counts.get(k)]
    text = f"{checked} checked" + (": " + ", ".join(parts) if parts else "")
    if counts.get("uncited"):
        text += f"; {counts['uncited']} uncited"
    return text


# -- review, evals, web ----------------------------------------------------------------------------------------
# The review's records (steps.jsonl `claim_check` and `review`) and an eval's files (eval.json, eval-spec.json,
# eval-result.json, results.jsonl, summary.json). Verdict words: agent_scientist.review.check.VERDICTS.


class ClaimVerdict(TypedDict, total=False):
    """One claim against one cited source: an entry of a `claim_check` record's `verdicts` (review.check.judge)
    and of a ReviewClaim's `evidence` (with `raw`)."""

    claim: int  # the claim's number (ReviewClaim.n)
    paper_id: str | None  # None: a citation that resolved to no workspace paper
    pages: list[int] | None  # [first, last] cited; None: the whole paper
    figure: int  # a cited figure or table (only when cited)
    table: int
    figure_seen: str  # what the reviewer had of a cited figure: image, description or caption
    model_verdict: str | None  # what the reviewer said, before the quote check
    quote: str
    found_page: int | None  # the page the code found the quote on
    verdict: str
    why: str  # why the verdict is what it is ("" when the quote stands)
    raw: str  # evidence only: the citation as written in the answer


class ReviewClaim(TypedDict, total=False):
    """One claim of a checked answer: an entry of a `review` record's `claims` (review.revise._claim_result);
    the report, `verify`, evals and the web view read it. Offsets are in review.claims.prepare(answer)."""

    n: int
    text: str  # without citations and markup
    written: str  # as written, citations included
    start: int
    end: int
    cite_end: int  # after its last citation (where the report puts the verdict marker)
    citations: list[str]  # the raw citations
    reviewer: str
    verdict: str  # the best verdict among its evidence (review.check.RANK), or uncited
    quote: str
    paper_id: str | None
    pages: list[int] | None  # the found quote's page twice, else the cited pages
    why: str
    evidence: list[ClaimVerdict]


class EvalOfWorkspace(TypedDict, total=False):
    """WorkspaceMeta `eval` of a question's workspace (evals.runner, evals.worker)."""

    name: str  # the eval
    id: str  # the question id
    wall_s: float  # the question's wall time so far, all its runs


class QuestionRecord(TypedDict, total=False):
    """A question as eval-spec.json carries it to its worker (evals.formats.Question.as_dict)."""

    id: str
    question: str
    kind: str  # mc or open
    ideal: str
    distractors: list[str]
    answer: str
    sources: list[str]
    key_passage: str


class EvalModels(TypedDict, total=False):
    planner: str
    worker: str
    judge: str | None


class EvalMeta(TypedDict, total=False):
    """<home>/evals/NAME/eval.json: what the results were made with; a rerun must match (evals.runner)."""

    name: str
    questions_file: str
    questions_sha256: str
    seed: int
    models: EvalModels
    papers: str | None  # the closed corpus folder


class EvalSpec(TypedDict, total=False):
    """eval-spec.json in a question's workspace: what its worker process runs (evals.runner -> evals.worker)."""

    workspace: str
    question: QuestionRecord
    options: list[str]
    settings: dict[str, Any]  # every setting by name, as load_settings' overrides
    papers: str | None
    judge_model: str


class CitationMeasures(TypedDict, total=False):
    """evals.scoring.citation_measures: citations in the answer, and how many the report verified."""

    citations: int | None  # None: the report failed
    citations_verified: int | None
    citation_validity: float | None


class SourceMeasures(TypedDict, total=False):
    """evals.scoring.source_measures: the gold sources available, read and cited (None: no gold sources)."""

    sources_available: list[str]
    sources_read: list[str]
    sources_cited: list[str]
    source_available: bool | None
    source_read: bool | None
    source_cited: bool | None


class ClaimMeasures(TypedDict, total=False):
    """evals.scoring.claim_figures: claim support from the latest review (None: no review)."""

    claims: int | None
    claims_supported: int | None
    claim_support: float | None


class ChoiceMeasures(TypedDict, total=False):
    """evals.scoring.choice_measures: the option chosen in a multiple-choice answer."""

    ideal: str  # letters
    chosen: str | None
    chosen_text: str | None
    choice_by: str  # read, model or none
    mapped_by_model: bool
    answered: bool  # an option other than INSUFFICIENT
    correct: bool


class EvalResult(CitationMeasures, SourceMeasures, ClaimMeasures, ChoiceMeasures, total=False):
    """eval-result.json of a question, and its line of results.jsonl (evals.worker.score, or the runner's record
    of a worker that died)."""

    id: str
    kind: str  # mc or open
    workspace: str
    status: str  # evals.summary.STATUSES
    error: str | None
    answer: str | None
    options: list[str]
    finished_at: str
    report_error: str
    mapping_error: str
    judge_model: str
    judge_correct: bool | None
    judge_error: str
    steps: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    scoring_tokens_in: int  # answer mapping and judging, apart from the run's
    scoring_tokens_out: int
    wall_s: float


class EvalSettings(TypedDict, total=False):
    """The settings an eval's summary records (evals.runner._recorded_settings), compared by eval-compare."""

    max_steps: int
    budget_usd: float
    total_budget_usd: float
    concurrency: int
    planning_interval: int
    api_base: str | None
    memory_url: str | None
    embedding_model: str
    context_threshold_tokens: int


class EvalRun(EvalMeta, total=False):
    """What the runner knows of an eval run, recorded in its summary beside the figures."""

    settings: EvalSettings
    started_at: str
    finished_at: str
    eval_wall_s: float  # the eval's own wall time (`wall_s` is the questions' spread)
    stop_reason: str | None  # interrupted, total_budget; None: all selected ran
    unfinished: list[str]  # question ids without a result


class ChoiceFigures(TypedDict):
    questions: int
    correct: int
    answered: int
    accuracy: float | None
    precision: float | None
    coverage: float | None
    mapped_by_model: int
    unreadable: int


class SourceFigures(TypedDict):
    questions_with_sources: int
    available: int
    read: int
    cited: int
    available_rate: float | None
    read_rate: float | None
    recall: float | None


class CitationFigures(TypedDict):
    answers_with_citations: int
    citations: int
    verified: int
    validity: float | None


class ClaimFigures(TypedDict):
    questions: int
    support: float | None


class JudgeFigures(TypedDict):
    judged: int
    correct: int
    accuracy: float | None


class EvalFailure(TypedDict):
    id: str | None
    error: str | None


class Spread(TypedDict):
    total: float
    median: float | None
    p90: float | None


class EvalSummary(EvalRun, total=False):
    """<home>/evals/NAME/summary.json (evals.summary.summarize); the web view and eval-compare read it."""

    version: str  # agent-scientist's
    questions_selected: int
    questions_scored: int
    partial: bool
    status: dict[str, int]  # per evals.summary.STATUSES
    multiple_choice: ChoiceFigures
    sources: SourceFigures
    citations: CitationFigures
    claims: ClaimFigures
    judge: JudgeFigures
    failures: list[EvalFailure]
    steps: Spread  # per question (COST_MEASURES)
    tokens_in: Spread
    tokens_out: Spread
    cost_usd: Spread
    wall_s: Spread


class Caption(TypedDict, total=False):
    """A figure or table caption found on a page (papers/pdf.py, papers/jats.py)."""

    text: str
    page: int


class OutlineEntry(TypedDict, total=False):
    title: str
    level: int
    page: int


class PageTexts(TypedDict, total=False):
    """papers/<folder>/pages.json (papers.store.store_paper; OCR adds pages later): what the web view reads."""

    pages: list[str]  # the text of each page
    outline: list[OutlineEntry]
    captions: list[Caption]
    scanned_pages: list[int]
    ocr_pages: list[int]
    sections: list[str]  # a JATS full text: the section of each page
    references: list[str]


class TableRecord(TypedDict):
    """A captioned table of a paper (papers.visuals): each row's cell texts, None where a spanning cell covers it."""

    number: int  # its caption's "Table N"
    page: int  # the page of its caption
    pages: list[int]  # every page it spans (an uncaptioned grid continuing it on the next page)
    caption: str  # NFKC, at most 600 characters
    rows: list[list[str | None]]
    header_rows: int  # 1, or 2 under a first row that spans columns


class FigureRecord(TypedDict):
    """A captioned figure of a paper (papers.visuals): its region on the page and the PNG rendered of it."""

    number: int  # its caption's "Figure N"
    page: int  # the page it is drawn on
    caption_page: int  # the page of its caption (the page after, when the figure ends a page)
    caption: str
    text: str  # the words inside its region, at most 2000 characters
    kind: str  # raster, vector or raster+vector
    bbox: list[float]  # the rendered region in points (x0, y0, x1, y1)
    image: NotRequired[str]  # figure-N.png in the paper folder (absent: extracted without a folder)
    size: NotRequired[list[int]]  # the PNG's width and height in pixels


class Visuals(TypedDict):
    """papers/<folder>/visuals.json (papers.visuals): a paper's tables and figures, extracted once."""

    version: int  # papers.visuals.VERSION: an older cache is extracted anew
    tables: list[TableRecord]
    figures: list[FigureRecord]
    error: NotRequired[str]  # why nothing was extracted (no PDF, or what pymupdf raised)


class CitationEntry(TypedDict, total=False):
    """One citation as written at one place and how it was verified (papers.citation_index.Occurrence.as_dict):
    the JSON export's `citations`. None where it does not apply; retracted, figure and table only when set."""

    retracted: bool
    raw: str
    location: str  # where in the answer it was written
    verified: bool
    paper_id: str | None  # the workspace paper it resolved to
    number: int | None  # its reference number
    label: str | None  # U1, U2, ... for an unverified one
    pages: list[int] | None  # [first, last]
    locator: str | None
    figure: int
    table: int
    reason: str | None  # why it is unverified
    note: str | None  # e.g. a version mismatch that was accepted


class UnverifiedCitation(TypedDict):
    """A distinct unverified citation (CitationIndex.unverified): the report's appendix, the JSON export."""

    label: str  # U1, U2, ...
    raw: str
    reason: str
    locations: list[str]  # every place it was written
