"""Running a question set: one worker process per question, N at a time, resumable, stoppable.

A process per question (not a thread) because the planner runs model-written Python in-process:
each question gets its own interpreter state, memory and smolagents agent, and Ctrl-C must reach
every run as a KeyboardInterrupt, which Python only delivers to a main thread. The processes are
forked from a multiprocessing fork server that has imported litellm, smolagents and chromadb once
(several seconds of CPU each time otherwise). Workers run in their own sessions, so one Ctrl-C
reaches the parent, which forwards exactly one SIGINT to each, waits for them to save their state,
and writes the summary of what finished.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent_scientist.config import Settings
from agent_scientist.evals import summary as summaries
from agent_scientist.evals import worker
from agent_scientist.evals.formats import Question, options, task_text, workspace_id
from agent_scientist.evals.worker import LOG_FILE, RESULT_FILE, SPEC_FILE
from agent_scientist.fsio import atomic_write_json, read_json
from agent_scientist.records import (
    EvalMeta,
    EvalResult,
    EvalRun,
    EvalSettings,
    EvalSpec,
    EvalSummary,
    WorkspaceMeta,
)
from agent_scientist.workspace import EVALS_DIR, Workspace, WorkspaceError, WorkspaceLocked, now_iso

EVAL_FILE = "eval.json"
STOP_WAIT_S = 60.0  # how long a worker gets to save its state after SIGINT before it is killed
POLL_S = 0.2


class EvalError(Exception):
    """The eval cannot run as asked; the message says what to do."""


@dataclass
class EvalConfig:
    name: str
    questions_file: Path
    questions_sha256: str
    seed: int = 0
    concurrency: int = 4
    papers: Path | None = None
    judge_model: str = ""
    total_budget_usd: float = 0.0
    retry_failed: bool = False


@dataclass
class Item:
    """One selected question and where it stands in this eval run."""

    q: Question
    opts: list[str]
    ws_name: str
    root: Path
    state: str = "pending"  # pending, running, done, interrupted
    result: EvalResult | None = None
    proc: Any = None  # a multiprocessing Process
    started: float = 0.0
    live: WorkspaceMeta = field(default_factory=lambda: WorkspaceMeta())  # its workspace.json while running


def eval_dir(settings: Settings, name: str) -> Path:
    return Path(settings.home) / EVALS_DIR / name


class EvalRunner:
    def __init__(self, settings: Settings, cfg: EvalConfig, questions: list[Question],
                 on_change: Callable[[EvalRunner], None] | None = None):
        self.settings = settings
        self.cfg = cfg
        self.dir = eval_dir(settings, cfg.name)
        self.on_change = on_change or (lambda runner: None)
        self.items = [self._item(q) for q in questions]
        self.stop_reason: str | None = None
        self.started_at = now_iso()
        self.started = time.monotonic()

    def _item(self, q: Question) -> Item:
        ws_name = f"{EVALS_DIR}/{self.cfg.name}/{workspace_id(q.id)}"
        return Item(q, options(q, self.cfg.seed), ws_name, Path(self.settings.home) / ws_name)

    # -- the eval's own record --------------------------------------------
    def record(self) -> EvalMeta:
        s = self.settings
        return {
            "name": self.cfg.name, "questions_file": str(self.cfg.questions_file),
            "questions_sha256": self.cfg.questions_sha256, "seed": self.cfg.seed,
            "models": {"planner": s.model, "worker": s.effective_worker_model, "judge": self.cfg.judge_model or None},
            "papers": str(self.cfg.papers) if self.cfg.papers else None,
        }

    def check_and_record(self) -> None:
        """Refuse to mix results made with another seed or other models under one name; record this run's."""
        path = self.dir / EVAL_FILE
        mine = self.record()
        if path.exists():
            try:
                before = read_json(path)
                if not isinstance(before, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as exc:
                raise EvalError(f"{path} is unreadable ({exc}); nothing was changed.") from None
            for key in ("seed", "models", "papers"):
                if before.get(key) != mine.get(key):
                    raise EvalError(
                        f"Eval {self.cfg.name!r} was run with {key} {before.get(key)!r}, not {mine.get(key)!r}: "
                        "its results would mix. Use another --name to compare, or the same settings to resume.")
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, mine)

    # -- planning -----------------------------------------------------------
    def _prepare(self, item: Item) -> None:
        """Create the question's workspace (or check it asks the same), then see whether it is finished."""
        task = task_text(item.q, item.opts, closed_corpus=self.cfg.papers is not None)
        try:
            if (item.root / "workspace.json").exists():
                ws = Workspace.open(self.settings.home, item.ws_name)
                if ws.is_locked():
                    raise EvalError(f"Question {item.q.id!r} is still running in another process "
                                    f"({(item.root / '.lock').read_text().strip()}); stop it or wait for it first.")
                if ws.question != task:
                    raise EvalError(f"Question {item.q.id!r} differs from the one run in {item.ws_name} "
                                    "(the file changed). Use another --name, or restore the question.")
            else:
                ws = Workspace.create(self.settings.home, item.ws_name, task)
                ws.update(eval={"name": self.cfg.name, "id": item.q.id})
        except WorkspaceError as exc:
            raise EvalError(str(exc)) from None
        result_path = item.root / RESULT_FILE
        if result_path.exists():
            try:
                result = summaries.read_result(result_path)
            except (OSError, ValueError):
                result = None
            if result and not (self.cfg.retry_failed and result.get("status") == "failed"):
                item.result, item.state = result, "done"
            elif result:
                result_path.replace(item.root / "eval-result.failed.json")

    # -- running ------------------------------------------------------------
    def run(self) -> EvalSummary:
        """Run every unfinished selected question; return the summary (also written to disk)."""
        with _eval_lock(self.dir, self.cfg.name):
            self.check_and_record()
            try:
                for item in self.items:
                    self._prepare(item)
                self.on_change(self)
                self._loop()
            except KeyboardInterrupt:
                self.stop_reason = self.stop_reason or "interrupted"
                try:
                    self._stop_all()
                except KeyboardInterrupt:  # a second Ctrl-C: no more waiting
                    self._stop_all(wait=0.0)
            return self.write_summary()

    def _loop(self) -> None:
        pending = [i for i in self.items if i.state == "pending"]
        concurrency = max(1, self.cfg.concurrency)
        while pending or self.running:
            while pending and len(self.running) < concurrency and self.stop_reason is None:
                self._launch(pending.pop(0))
            changed = self._poll()
            if self._over_total_budget():
                self.stop_reason = "total_budget"
                self._stop_all()
                return
            if changed:
                self.write_results()
            self.on_change(self)
            if self.stop_reason is not None and not self.running:
                return
            time.sleep(POLL_S)

    @property
    def running(self) -> list[Item]:
        return [i for i in self.items if i.state == "running"]

    def _launch(self, item: Item) -> None:
        spec: EvalSpec = {"workspace": item.ws_name, "question": item.q.as_dict(), "options": item.opts,
                "settings": _settings_overrides(self.settings),
                "papers": str(self.cfg.papers) if self.cfg.papers else None, "judge_model": self.cfg.judge_model}
        atomic_write_json(item.root / SPEC_FILE, spec)
        item.proc = _context().Process(target=worker.entry, args=(str(item.root), os.getpid()),
                                       name=f"eval {item.q.id}")
        item.proc.start()
        item.state, item.started = "running", time.monotonic()

    def _poll(self) -> bool:
        changed = False
        for item in self.running:
            assert item.proc is not None
            code = item.proc.exitcode
            if code is None:
                try:
                    item.live = Workspace(item.root, item.ws_name).meta
                except WorkspaceError:
                    pass
                continue
            self._collect(item, code)
            changed = True
        return changed

    def _collect(self, item: Item, code: int) -> None:
        """A worker ended: read its result; one that died without a result failed, unless we stopped it."""
        try:
            item.result = summaries.read_result(item.root / RESULT_FILE)
        except (OSError, ValueError):
            item.result = None
        if item.result is not None:
            item.state = "done"
        elif code == 130 or self.stop_reason is not None:
            item.state = "interrupted"
        else:
            item.result = self._crash_record(item, code)
            atomic_write_json(item.root / RESULT_FILE, item.result)
            item.state = "done"
        item.proc = None

    def _crash_record(self, item: Item, code: int) -> EvalResult:
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        try:
            tail = (item.root / LOG_FILE).read_text(errors="replace").strip().splitlines()[-3:]
        except OSError:
            tail = []
        meta = WorkspaceMeta()
        try:
            meta = Workspace(item.root, item.ws_name).meta
        except WorkspaceError:
            pass
        return {"id": item.q.id, "kind": item.q.kind, "workspace": item.ws_name, "status": "failed",
                "error": f"the worker process ended with {how}: " + " | ".join(tail)[-400:],
                "steps": meta.get("steps", 0), "tokens_in": meta.get("tokens_in", 0),
                "tokens_out": meta.get("tokens_out", 0), "cost_usd": meta.get("cost_usd", 0.0),
                "wall_s": round(time.monotonic() - item.started, 3), "finished_at": now_iso()}

    def _over_total_budget(self) -> bool:
        cap = self.cfg.total_budget_usd
        return bool(cap) and self.cost_so_far() >= cap

    def cost_so_far(self) -> float:
        done = sum(float(i.result.get("cost_usd") or 0.0) for i in self.items if i.result is not None)
        return done + sum(float(i.live.get("cost_usd") or 0.0) for i in self.running)

    def _stop_all(self, wait: float = STOP_WAIT_S) -> None:
        """One SIGINT to every worker (each saves a resumable state), then wait; kill only the stuck."""
        for item in self.running:
            if item.proc is not None and wait:
                try:
                    os.kill(item.proc.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + wait
        for item in self.running:
            assert item.proc is not None
            item.proc.join(max(0.1, deadline - time.monotonic()))
            if item.proc.exitcode is None:
                try:
                    os.killpg(item.proc.pid, signal.SIGKILL)  # the worker and any experiment it started
                except ProcessLookupError:
                    item.proc.kill()
                item.proc.join()
            self._collect(item, item.proc.exitcode)

    # -- output -------------------------------------------------------------
    def results(self) -> list[EvalResult]:
        return [i.result for i in self.items if i.result is not None]

    def write_results(self) -> None:
        summaries.write_results(self.dir, self.results())

    def write_summary(self) -> EvalSummary:
        self.write_results()
        meta: EvalRun = {**self.record(), "settings": _recorded_settings(self.settings, self.cfg),
                         "started_at": self.started_at, "finished_at": now_iso(),
                         "eval_wall_s": round(time.monotonic() - self.started, 3), "stop_reason": self.stop_reason,
                         "unfinished": [i.q.id for i in self.items if i.result is None]}
        data = summaries.summarize(self.results(), len(self.items), meta)
        summaries.write_summary(self.dir, data)
        return data


_CONTEXT: Any = None


def _context() -> Any:
    """The fork server (imports done once) where the platform has one, else fresh interpreters."""
    global _CONTEXT
    if _CONTEXT is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            _CONTEXT = multiprocessing.get_context("forkserver")
            _CONTEXT.set_forkserver_preload(["agent_scientist.evals.preload"])
        else:
            _CONTEXT = multiprocessing.get_context("spawn")
    return _CONTEXT


def _settings_overrides(settings: Settings) -> dict[str, Any]:
    """Every setting as a flag for the worker, so it runs with exactly the parent's configuration."""
    out = {}
    for key, value in asdict(settings).items():
        out[key] = str(Path(value).resolve()) if isinstance(value, Path) else value
    return out


def _recorded_settings(settings: Settings, cfg: EvalConfig) -> EvalSettings:
    return {"max_steps": settings.max_steps, "budget_usd": settings.budget_usd,
            "total_budget_usd": cfg.total_budget_usd, "concurrency": cfg.concurrency,
            "planning_interval": settings.planning_interval, "api_base": settings.api_base or None,
            "memory_url": settings.memory_url or None, "embedding_model": settings.embedding_model,
            "context_threshold_tokens": settings.context_threshold_tokens}


class _eval_lock:  # noqa: N801 - used as a context manager
    """One `eval` process per eval name: the workspace kernel lock on the eval's folder."""

    def __init__(self, folder: Path, name: str):
        self.holder = Workspace(folder, f"{EVALS_DIR}/{name}").lock()

    def __enter__(self) -> None:
        try:
            self.holder.__enter__()
        except WorkspaceLocked as exc:
            raise EvalError(str(exc).replace("Workspace", "Eval", 1)) from None

    def __exit__(self, *exc: Any) -> None:
        self.holder.__exit__(*exc)
