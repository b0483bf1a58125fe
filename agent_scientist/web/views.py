"""What each page shows, read from the workspace home (and nothing else): typed dicts for the templates, built
from the records (records.py) the workspace and the evals keep."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict, cast

from agent_scientist.config import Settings
from agent_scientist.fsio import read_json
from agent_scientist.papers.citation_index import workspace_page_count
from agent_scientist.papers.layout import paper_dir, read_pages
from agent_scientist.papers.visuals import caption_kind
from agent_scientist.records import (
    Caption,
    EvalResult,
    EvalSummary,
    Inflight,
    Note,
    OutlineEntry,
    PageTexts,
    PaperMeta,
    ReviewClaim,
    StepRecord,
    WorkspaceMeta,
    latest_review,
    short,
)
from agent_scientist.web import pages
from agent_scientist.web.render import report_html, url
from agent_scientist.workspace import EVALS_DIR, Workspace, WorkspaceError, list_names, validate_name

MAX_SHOWN = 6000  # characters of one step's code or observation on the page; the rest is cut, and says so
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")


# -- what the templates get (templates/*.html name these keys) ---------------------------------------------------
class WorkspaceRow(TypedDict):
    name: str
    status: str
    question: str
    steps: int
    tokens: int
    cost: float
    updated: str
    href: str


class BrokenRow(TypedDict):
    name: str
    error: str


class EvalRow(TypedDict):
    name: str
    href: str
    scored: str
    accuracy: str
    validity: str
    support: str
    partial: bool


class HomePage(TypedDict):
    workspaces: list[WorkspaceRow]
    broken: list[BrokenRow]
    evals: list[EvalRow]


class CallView(TypedDict):
    """A model call in flight (records.ModelCall), for the live view."""

    role: str
    model: str
    started_at: float
    since: str
    elapsed: int
    tokens: int
    attempt: int
    tries: int


class StepPart(TypedDict):
    label: str
    text: str
    error: bool


class StepView(TypedDict):
    n: int
    kind: str
    title: str
    tokens: int
    duration: float
    failed: bool
    summary: str
    body: list[StepPart]


class ExperimentView(TypedDict):
    run: int | None
    script: str
    args: str
    exit: str | int | None
    duration: float
    metrics: str
    images: list[str]
    files: list[tuple[str, str]]


class PaperRow(TypedDict):
    id: str
    title: str
    authors: str
    pages: int
    href: str


class WorkspacePage(TypedDict):
    name: str
    question: str
    status: str
    models: dict[str, str]
    meta: WorkspaceMeta
    running: str
    calls: list[CallView]
    report: str
    steps: list[StepView]
    offset: int
    experiments: list[ExperimentView]
    papers: list[PaperRow]
    notes: list[Note]
    notes_error: str


class Visual(TypedDict, total=False):
    """A figure's crop or a table's grid (papers/visuals.py's extraction)."""

    kind: str  # figure or table
    number: int
    caption: str
    page: int
    pages: list[int]
    label: str
    image: str  # figure: the crop's URL
    caption_page: int  # figure
    rows: list[list[tuple[str, int]]]  # table: (text, colspan)
    header_rows: int  # table


class CitationPage(TypedDict):
    name: str
    paper: PaperMeta
    page: int
    count: int
    claim: ReviewClaim | None
    quote: str
    caption: Caption | None
    visual: Visual | None
    located: tuple[str, int] | None
    text: str
    marked: tuple[str, str, str] | None
    highlight: pages.Highlight | None
    image: str
    prev: str
    next: str
    overview: str
    back: str


class CaptionLink(Caption, total=False):
    href: str


class PaperPage(TypedDict):
    name: str
    paper: PaperMeta
    count: int
    outline: list[OutlineEntry]
    captions: list[CaptionLink]
    pages: list[tuple[int, str]]
    back: str


class ResultRow(EvalResult, total=False):
    href: str  # its workspace's page


class EvalPage(TypedDict):
    name: str
    data: EvalSummary
    rows: list[tuple[str, str, Any]]
    results: list[ResultRow]
    others: list[str]


class ComparePage(TypedDict):
    a: str
    b: str
    rows: list[tuple[str, str, str, str]]


def clip(text: Any, limit: int = MAX_SHOWN) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit:,} more characters cut)"


def workspace_row(ws: Workspace) -> WorkspaceRow:
    meta = ws.meta
    return {"name": ws.name, "status": ws.live_status, "question": short(meta.get("question"), 140),
            "steps": int(meta.get("steps") or 0),
            "tokens": int(meta.get("tokens_in") or 0) + int(meta.get("tokens_out") or 0),
            "cost": float(meta.get("cost_usd") or 0.0), "updated": str(meta.get("updated_at") or ""),
            "href": url("/ws", name=ws.name)}


def home_page(home: Path) -> HomePage:
    """Every workspace (newest change first) and every eval with its headline figures."""
    rows: list[WorkspaceRow] = []
    broken: list[BrokenRow] = []
    for name in list_names(home):
        try:
            rows.append(workspace_row(Workspace.open(home, name)))
        except WorkspaceError as exc:
            broken.append({"name": name, "error": str(exc)})
    rows.sort(key=lambda r: r["updated"], reverse=True)
    return {"workspaces": rows, "broken": broken, "evals": eval_list(home)}


def eval_list(home: Path) -> list[EvalRow]:
    from agent_scientist.evals.summary import load
    from agent_scientist.evals.summary import rows as summary_rows

    found: list[EvalRow] = []
    for path in sorted((Path(home) / EVALS_DIR).glob("*/summary.json")):
        try:
            data = load(str(path), home)
            figures = {label: shown for label, shown, _ in summary_rows(data)}
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append({"name": path.parent.name, "href": url("/eval", name=path.parent.name),
                      "scored": figures.get("questions scored", ""), "accuracy": figures.get("accuracy", ""),
                      "validity": figures.get("citation validity", ""), "support": figures.get("claim support", ""),
                      "partial": bool(data.get("partial"))})
    return found


class NotesCache:
    """A workspace's notes, read again only when its memory changed on disk (opening chromadb is slow)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, list[Note] | None, str]] = {}
        self._lock = threading.Lock()

    def get(self, ws: Workspace, settings: Settings) -> tuple[list[Note] | None, str]:
        from agent_scientist.report import load_notes

        db = ws.memory_dir / "chroma.sqlite3"
        stamp = db.stat().st_mtime if db.exists() else 0.0
        with self._lock:
            hit = self._cache.get(str(ws.root))
            if hit and hit[0] == stamp:
                return hit[1], hit[2]
            notes, error = load_notes(ws, settings)
            self._cache[str(ws.root)] = (stamp, notes, error)
            return notes, error


def running_step(ws: Workspace, steps: Sequence[StepRecord]) -> str:
    """The step a run in flight is on (its model call in flight: `inflight`)."""
    if ws.live_status != "running":
        return ""
    done = max((int(s.get("step") or 0) for s in steps if s.get("type") == "action"), default=0)
    return f"running, step {done + 1}"


def inflight(ws: Workspace) -> list[CallView]:
    """The model calls in flight the run recorded (records.Inflight), if the process that wrote them holds the
    workspace now (a killed run's file says nothing); for the live view."""
    try:
        found = read_json(ws.inflight_path)
    except (OSError, ValueError):
        return []
    if not isinstance(found, dict):
        return []
    data = cast(Inflight, found)  # JSON from disk (agent/models.CallLog writes it): an object, its keys read with get
    if not data.get("calls") or data.get("pid") != ws.lock_holder():
        return []
    shown: list[CallView] = []
    for call in data["calls"]:
        begun = float(call.get("started_at") or 0.0)
        shown.append({"role": str(call.get("role") or "model"), "model": str(call.get("model") or ""),
                      "started_at": begun, "since": time.strftime("%H:%M:%S", time.localtime(begun)),
                      "elapsed": max(0, round(time.time() - begun)), "tokens": int(call.get("tokens") or 0),
                      "attempt": int(call.get("attempt") or 1), "tries": int(call.get("tries") or 1)})
    return sorted(shown, key=lambda c: c["started_at"])


def step_view(record: StepRecord, position: int) -> StepView:
    kind = str(record.get("type") or "")
    tokens = int(record.get("tokens_in") or 0) + int(record.get("tokens_out") or 0)
    title = {"action": f"Step {record.get('step')}", "planning": f"Plan (step {record.get('step')})",
             "run_start": "Run started" + (" (resumed)" if record.get("resumed") else ""),
             "run_end": f"Run ended: {record.get('status')}" + (f" ({record['reason']})" if record.get("reason") else ""),
             "summary": "History summary", "claim_check": "Claim check", "review": "Review"}.get(kind, kind)
    parts = (("Task", record.get("task")), ("Instruction", record.get("instruction")), ("Plan", record.get("plan")),
             ("Code", record.get("code")), ("Observation", record.get("observation")), ("Error", record.get("error")),
             ("Final answer", record.get("final_answer")), ("Summary", record.get("text")))
    body: list[StepPart] = [{"label": label, "text": clip(text), "error": label == "Error"}
                            for label, text in parts if text]
    if kind == "review" and record.get("counts"):
        from agent_scientist.records import summary_line

        body.append({"label": "Claims", "text": summary_line(record["counts"]), "error": False})
    return {"n": position, "kind": kind, "title": title, "tokens": tokens,
            "duration": float(record.get("duration_s") or 0.0), "failed": bool(record.get("error")),
            "summary": short(record.get("error") or record.get("observation") or record.get("final_answer")
                             or record.get("task") or "", 120), "body": body}


def workspace_page(ws: Workspace, settings: Settings, notes_cache: NotesCache) -> WorkspacePage:
    from agent_scientist.report import render

    notes, notes_error = notes_cache.get(ws, settings)
    steps = ws.steps()
    result = render(ws, notes, "markdown", report_dir=ws.root, notes_error=notes_error)
    index = result.index
    numbers = {n: str(p["id"]) for n, p in index.references()} if index else {}
    answer = ws.final_answer()
    review = latest_review(steps, answer) if answer is not None else None
    claims = {int(c["n"]): c for c in (review or {}).get("claims") or []}
    meta = ws.meta
    return {
        "name": ws.name, "question": meta.get("question") or "", "status": ws.live_status,
        "models": meta.get("models") or {}, "meta": meta, "running": running_step(ws, steps),
        "calls": inflight(ws),
        "report": report_html(result.text, ws.name, numbers, claims),
        "steps": [step_view(r, i) for i, r in enumerate(steps) if r.get("type") != "claim_check"],
        "offset": ws.steps_path.stat().st_size if ws.steps_path.exists() else 0,
        "experiments": experiments(ws), "papers": papers(ws), "notes": notes or [], "notes_error": notes_error,
    }


def experiments(ws: Workspace) -> list[ExperimentView]:
    out: list[ExperimentView] = []
    for run in sorted(ws.runs(), key=lambda r: int(r.get("run") or 0)):
        artifacts = sorted({str(p) for p in run.get("artifacts") or []})
        images = [url("/ws/file", name=ws.name, path=f"files/{p}") for p in artifacts
                  if p.lower().endswith(IMAGE_SUFFIXES) and (ws.files_dir / p).is_file()]
        out.append({"run": run.get("run"), "script": run.get("script") or "", "args": run.get("args") or "",
                    "exit": "timed out" if run.get("timed_out") else run.get("exit_code"),
                    "duration": float(run.get("duration_s") or 0.0),
                    "metrics": json.dumps(run.get("metrics"), indent=1, sort_keys=True) if run.get("metrics") else "",
                    "images": images[:8],
                    "files": [(p, url("/ws/file", name=ws.name, path=f"files/{p}")) for p in artifacts
                              if not p.lower().endswith(IMAGE_SUFFIXES)][:30]})
    return out


def papers(ws: Workspace) -> list[PaperRow]:
    return [{"id": p["id"], "title": p.get("title") or "Untitled", "authors": ", ".join(p.get("authors") or [])[:200],
             "pages": p.get("pages") or 0, "href": url("/ws/paper", name=ws.name, paper=p["id"])} for p in ws.papers()]


def find_paper(ws: Workspace, paper_id: str) -> PaperMeta | None:
    return next((paper for paper in ws.papers() if str(paper["id"]) == paper_id), None)


def page_texts(ws: Workspace, paper: PaperMeta) -> PageTexts:
    """The paper's pages.json, or nothing (no text cached yet, or unreadable)."""
    try:
        return read_pages(paper_dir(ws, str(paper["id"])))
    except (OSError, ValueError):
        return {}


def locate(stored: PageTexts, kind: str, number: int) -> Caption | None:
    """The caption of figure/table `number` (`kind` fig or tab) with its page, from pages.json."""
    for caption in stored.get("captions") or []:
        if caption_kind(str(caption.get("text") or "")) == (KINDS[kind], number):
            return Caption(**caption)
    return None


KINDS = {"fig": "figure", "tab": "table"}  # a citation's locator word -> papers.visuals' kind


def visual(ws: Workspace, paper: PaperMeta, kind: str, number: int) -> Visual | None:
    """Figure or table `number` of a paper as papers/visuals.py extracted it (done now if no read did): the
    figure's cropped image URL, or the table's grid as rows of (text, colspan) cells; None if not found."""
    from agent_scientist.papers import visuals

    folder = paper_dir(ws, str(paper["id"]))
    if not (folder / "paper.pdf").is_file():
        return None
    found = visuals.ensure(folder)
    if kind == "fig":
        figure = visuals.find_figure(found, number)
        if figure is None:
            return None
        shown = Visual(kind="figure", number=number, caption=figure["caption"], page=figure["page"], pages=[],
                       label=f"Figure {number}")
        image = folder / figure.get("image", "")
        if figure.get("image") and image.is_file():
            shown["image"] = url("/ws/file", name=ws.name, path=image.relative_to(ws.root).as_posix())
        shown["caption_page"] = figure["caption_page"] or figure["page"]
        return shown
    table = visuals.find_table(found, number)
    if table is None:
        return None
    return Visual(kind="table", number=number, caption=table["caption"], page=table["page"], pages=table["pages"],
                  label=f"Table {number}", rows=grid_cells(table["rows"]), header_rows=table["header_rows"] or 1)


def grid_cells(rows: Sequence[Sequence[str | None]]) -> list[list[tuple[str, int]]]:
    """A table's rows as (text, colspan): a cell followed by cells it covers (None) spans them."""
    out = []
    for row in rows:
        cells: list[tuple[str, int]] = []
        for cell in row:
            if cell is None and cells:
                cells[-1] = (cells[-1][0], cells[-1][1] + 1)
            else:
                cells.append((cell or "", 1))
        out.append(cells)
    return out


def citation_page(ws: Workspace, paper: PaperMeta, page: int, claim_n: int | None,
                  located: tuple[str, int] | None = None) -> CitationPage:
    """The cited page: image URL, the quote's boxes on it, the text with the quote marked, neighbours; for a
    figure or table citation also the figure's crop or the table's grid."""
    stored = page_texts(ws, paper)
    texts = list(stored.get("pages") or [])
    caption = locate(stored, *located) if located else None
    shown = visual(ws, paper, *located) if located else None
    if not page:
        page = int((caption or {}).get("page") or (shown or {}).get("caption_page") or (shown or {}).get("page") or 0)
    count = workspace_page_count(ws)(paper) or len(texts)
    steps = ws.steps()
    answer = ws.final_answer()
    review = latest_review(steps, answer) if answer is not None else None
    claims = [c for c in (review or {}).get("claims") or [] if str(c.get("paper_id")) == str(paper["id"])]
    claim = next((c for c in claims if int(c["n"]) == claim_n), None) if claim_n is not None else None
    if claim is None:  # any claim whose evidence is on this page
        claim = next((c for c in claims if c.get("quote") and _on_page(c.get("pages"), page)), None)
    quote = str((claim or {}).get("quote") or (caption or {}).get("text") or (shown or {}).get("caption") or "")
    text = texts[page - 1] if 1 <= page <= len(texts) else ""
    folder = paper_dir(ws, str(paper["id"]))
    highlight = pages.find_quote(folder, page, quote) if quote else None
    if highlight is None and (folder / "paper.pdf").is_file() and 1 <= page <= count:
        highlight = pages.find_quote(folder, page, "")
    marked = pages.mark_text(text, quote) if quote else None
    return {
        "name": ws.name, "paper": paper, "page": page, "count": count, "claim": claim, "quote": quote,
        "caption": caption, "visual": shown, "located": located, "text": text, "marked": marked, "highlight": highlight,
        "image": url("/ws/page.png", name=ws.name, paper=paper["id"], page=page)
        if (folder / "paper.pdf").is_file() and 1 <= page <= count else "",
        "prev": url("/ws/page", name=ws.name, paper=paper["id"], page=page - 1) if page > 1 else "",
        "next": url("/ws/page", name=ws.name, paper=paper["id"], page=page + 1) if page < count else "",
        "overview": url("/ws/paper", name=ws.name, paper=paper["id"]), "back": url("/ws", name=ws.name),
    }


def _on_page(pages: Sequence[int] | None, page: int) -> bool:
    """Whether `page` is within a claim's pages ([first, last])."""
    if not pages:
        return False
    return int(pages[0]) <= page <= int(pages[-1])


def paper_page(ws: Workspace, paper: PaperMeta) -> PaperPage:
    stored = page_texts(ws, paper)
    count = workspace_page_count(ws)(paper)
    captions: list[CaptionLink] = []
    for caption in stored.get("captions") or []:  # a figure's or table's caption opens it (its crop, its grid)
        kind = caption_kind(str(caption.get("text") or ""))
        where = {"fig" if kind[0] == "figure" else "tab": kind[1]} if kind else {"page": caption.get("page")}
        captions.append({**caption, "href": url("/ws/page", name=ws.name, paper=paper["id"], **where)})
    return {"name": ws.name, "paper": paper, "count": count, "outline": stored.get("outline") or [],
            "captions": captions,
            "pages": [(n, url("/ws/page", name=ws.name, paper=paper["id"], page=n)) for n in range(1, count + 1)],
            "back": url("/ws", name=ws.name)}


def eval_page(home: Path, name: str) -> EvalPage:
    from agent_scientist.evals.summary import load, read_results, rows

    data = load(str(_summary(home, name)), home)
    results: list[ResultRow] = [{**r, "href": url("/ws", name=r["workspace"]) if r.get("workspace") else ""}
                                for r in read_results(Path(home) / EVALS_DIR / name)]
    others = [e["name"] for e in eval_list(home) if e["name"] != name]
    return {"name": name, "data": data, "rows": rows(data), "results": results, "others": others}


def compare_page(home: Path, a: str, b: str) -> ComparePage:
    from agent_scientist.evals.summary import compare, load

    return {"a": a, "b": b, "rows": compare(load(str(_summary(home, a)), home), load(str(_summary(home, b)), home))}


def _summary(home: Path, name: str) -> Path:
    """<home>/evals/NAME/summary.json of a plain eval name, or WorkspaceError."""
    validate_name(name)
    path = Path(home) / EVALS_DIR / name / "summary.json"
    if name == EVALS_DIR or not path.is_file():
        raise WorkspaceError(f"No eval named {name!r} in {home}.")
    return path
