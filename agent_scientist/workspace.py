"""Workspace: a run's durable state on disk, and the only place it lives.

Layout of `<home>/<name>/`:
  workspace.json  metadata and counters (replaced atomically)
  steps.jsonl     one record per finished planner step (appended and flushed)
  runs.jsonl      one record per experiment run
  files/          the agent's working directory
  papers/<folder>/ meta.json, paper.pdf, pages.json for each paper read or added
  memory/         the embedded vector store
  report.md       the exported report
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from agent_scientist.fsio import (
    CorruptLog,
    append_jsonl,
    append_text,
    atomic_write_bytes,
    atomic_write_json,
    corrupt_path,
    keep_lines,
    read_json,
    read_jsonl,
    scan_jsonl,
)
from agent_scientist.records import (
    SCHEMA_VERSION,
    PaperMeta,
    Repaired,
    RunRecord,
    Status,
    StepRecord,
    TokenUsage,
    Usage,
    WorkspaceMeta,
    last_answer,
    stop_label,
)

STATUSES = ("created", "running", "interrupted", "failed", "completed")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
# Eval questions run in nested workspaces named `evals/<eval name>/<question id>` (agent-scientist eval).
EVALS_DIR = "evals"


class WorkspaceError(Exception):
    """A workspace cannot be used as asked; the message says what to do."""


class WorkspaceLocked(WorkspaceError):
    """Another live process holds the workspace."""


def now_iso(timespec: str = "seconds") -> str:
    return datetime.now(UTC).isoformat(timespec=timespec)


def slugify(text: str, max_len: int = 48) -> str:
    """A readable, filesystem-safe name from a question."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", text.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_len:
            break
        slug = candidate
    return slug or "research"


def validate_name(name: str) -> str:
    """The one check on every workspace name a user gives: a plain folder name inside the home, or the
    nested `evals/<eval>/<id>` of an eval question."""
    if not isinstance(name, str):
        raise WorkspaceError(f"Invalid workspace name {name!r}.")
    parts = name.split("/")
    if len(parts) == 3 and parts[0] == EVALS_DIR and all(_NAME_RE.fullmatch(p) for p in parts[1:]):
        return name
    if name == EVALS_DIR:
        raise WorkspaceError(f"The name {EVALS_DIR!r} is reserved for `agent-scientist eval`; choose another.")
    if not _NAME_RE.fullmatch(name):
        raise WorkspaceError(
            f"Invalid workspace name {name!r}: use letters, digits, '.', '_' or '-' (at most 80 characters)."
        )
    return name


class Workspace:
    def __init__(self, root: Path, name: str | None = None):
        # Absolute, so tools and the sandbox (which changes directory) see the same place.
        self.root = Path(root).resolve()
        self.name = name or self.root.name  # `evals/<eval>/<id>` for an eval question's workspace
        self._meta: WorkspaceMeta | None = None

    # -- paths ------------------------------------------------------------
    @property
    def meta_path(self) -> Path:
        return self.root / "workspace.json"

    @property
    def steps_path(self) -> Path:
        return self.root / "steps.jsonl"

    @property
    def runs_path(self) -> Path:
        return self.root / "runs.jsonl"

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    @property
    def papers_dir(self) -> Path:
        return self.root / "papers"

    @property
    def memory_dir(self) -> Path:
        return self.root / "memory"

    @property
    def report_path(self) -> Path:
        return self.root / "report.md"

    @property
    def inflight_path(self) -> Path:
        """inflight.json: the model calls in flight (records.Inflight), for `serve`'s live view."""
        return self.root / "inflight.json"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    @property
    def log_path(self) -> Path:
        """run.log: the tracebacks of failed runs, appended (steps.jsonl keeps only a one-line reason)."""
        return self.root / "run.log"

    # -- life cycle -------------------------------------------------------
    @classmethod
    def create(cls, home: Path, name: str, question: str = "") -> Workspace:
        validate_name(name)
        root = Path(home) / name
        if root.exists():
            raise WorkspaceError(f"Workspace {name!r} already exists in {home}. Choose another --name.")
        Path(home).mkdir(parents=True, exist_ok=True)
        root.mkdir(parents="/" in name)
        ws = cls(root, name)
        for sub in (ws.files_dir, ws.papers_dir, ws.memory_dir):
            sub.mkdir()
        stamp = now_iso()
        ws._meta = {
            "v": SCHEMA_VERSION,
            "version": SCHEMA_VERSION,
            "name": name,
            "question": question,
            "status": "created",
            "models": {},
            "created_at": stamp,
            "updated_at": stamp,
            "steps": 0,
            "tokens_in": 0,
            "tokens_out": 0,
            "cost_usd": 0.0,
        }
        atomic_write_json(ws.meta_path, ws._meta)
        return ws

    @classmethod
    def open(cls, home: Path, name: str) -> Workspace:
        validate_name(name)
        root = Path(home) / name
        if not (root / "workspace.json").exists():
            known = ", ".join(list_names(home)[:10]) or "none"
            raise WorkspaceError(
                f"No workspace named {name!r} in {home} (known: {known}). See `agent-scientist list`."
            )
        ws = cls(root, name)
        ws.meta  # noqa: B018 - load now so corruption is reported up front
        return ws

    @classmethod
    def open_or_create(cls, home: Path, name: str, question: str = "") -> Workspace:
        """Open NAME, or create it empty (status created), as `init` does."""
        validate_name(name)
        if (Path(home) / name / "workspace.json").exists():
            return cls.open(home, name)
        return cls.create(home, name, question)

    # -- metadata ---------------------------------------------------------
    @property
    def meta(self) -> WorkspaceMeta:
        if self._meta is None:
            try:
                data = read_json(self.meta_path)
            except (OSError, ValueError) as exc:
                raise WorkspaceError(
                    f"{self.meta_path} is unreadable or not valid JSON ({exc}). "
                    "Nothing was changed; restore it or remove the workspace."
                ) from None
            if not isinstance(data, dict) or "status" not in data:
                raise WorkspaceError(f"{self.meta_path} is not a workspace record. Nothing was changed.")
            self._meta = cast(WorkspaceMeta, data)  # JSON from disk: checked for its one required field above
        return self._meta

    def update(self, **fields: Any) -> WorkspaceMeta:
        """Change metadata fields and replace workspace.json atomically."""
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"unknown status {fields['status']!r}")
        meta = cast(WorkspaceMeta, {**self.meta, **fields})  # fields: WorkspaceMeta's names (callers' keywords)
        meta["updated_at"] = now_iso()
        atomic_write_json(self.meta_path, meta)
        self._meta = meta
        return meta

    @property
    def status(self) -> Status:
        return self.meta["status"]

    @property
    def live_status(self) -> Status:
        """The status as a user should read it: a 'running' workspace that no process holds was killed."""
        status = self.status
        if status == "running" and not self.is_locked():
            return "interrupted"
        return status

    @property
    def stopped(self) -> str:
        """How the last run ended, in the one vocabulary (records.stop_label)."""
        meta = self.meta
        held = meta.get("status") != "running" or self.is_locked()
        return stop_label(meta.get("status"), meta.get("stop_reason"), held=held)

    def is_locked(self) -> bool:
        """Whether a live process holds the workspace (see `lock`)."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    def lock_holder(self) -> int | None:
        """The pid of the live process holding the workspace (written by `lock`), or None."""
        if not self.is_locked():
            return None
        try:
            text = self.lock_path.read_text(errors="replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() and int(text) > 0 else None

    @property
    def question(self) -> str:
        return self.meta.get("question", "")

    # -- logs -------------------------------------------------------------
    def append_step(self, record: StepRecord) -> StepRecord:
        """Append a step record (flushed), then fold its counters into workspace.json."""
        record = {"v": SCHEMA_VERSION, **record}
        append_jsonl(self.steps_path, record)
        usage = _usage([record])
        if any(usage.values()):
            meta = self.meta
            self.update(
                steps=meta.get("steps", 0) + usage["steps"],
                tokens_in=meta.get("tokens_in", 0) + usage["tokens_in"],
                tokens_out=meta.get("tokens_out", 0) + usage["tokens_out"],
                cost_usd=round(meta.get("cost_usd", 0.0) + usage["cost_usd"], 6),
            )
        return record

    def steps(self) -> list[StepRecord]:
        """Every step record; an unreadable line other than a half-written last one stops here."""
        try:
            return cast(list[StepRecord], read_jsonl(self.steps_path, strict=True))  # JSON lines from disk
        except CorruptLog as exc:
            raise self._damaged(self.steps_path, exc.lines, "steps") from None

    def _damaged(self, path: Path, numbers: list[int], what: str) -> WorkspaceError:
        lines = ", ".join(str(n) for n in numbers[:10]) + (" ..." if len(numbers) > 10 else "")
        return WorkspaceError(
            f"{path}: line(s) {lines} are unreadable, so {what} would be lost. Nothing was changed. Move them "
            f"aside (kept in {corrupt_path(path).name}) with: agent-scientist repair {self.name}")

    def reconcile(self) -> WorkspaceMeta:
        """Bring workspace.json's counters up to what steps.jsonl records; never lower them."""
        return self.update(**_at_least(self.meta, _usage(self.steps())))

    def repair(self) -> Repaired:
        """Move unreadable lines of steps.jsonl to steps.corrupt.jsonl; renumber nothing, lower no total.

        Returns what was done: the moved line numbers, the records kept, and the counters.
        """
        with self.lock():
            good, bad, _ = scan_jsonl(self.steps_path)
            _set_aside(self.steps_path, good, bad)
            recounted = _usage([cast(StepRecord, record) for _, _, record in good])  # JSON lines from disk
            meta = self.update(**_at_least(self.meta, recounted))
            runs_good, runs_bad = _scan_runs(self.runs_path, torn_too=True)
            _set_aside(self.runs_path, runs_good, runs_bad)
        counters = Usage(steps=meta.get("steps") or 0, tokens_in=meta.get("tokens_in") or 0,
                         tokens_out=meta.get("tokens_out") or 0, cost_usd=meta.get("cost_usd") or 0.0)
        return Repaired(moved=[number for number, _ in bad], kept=len(good),
                        corrupt_file=str(corrupt_path(self.steps_path)),
                        runs_moved=[number for number, _ in runs_bad], runs_kept=len(runs_good),
                        runs_corrupt_file=str(corrupt_path(self.runs_path)), counters=counters)

    def final_answer(self) -> str | None:
        """The latest final answer the planner gave, if any."""
        found = last_answer(self.steps())
        return str(found[1]["final_answer"]) if found else None

    def log_error(self, what: str, exc: BaseException) -> Path:
        """Append `exc` with its traceback to run.log under a dated heading; returns the log's path."""
        import traceback

        trace = "".join(traceback.format_exception(exc))
        append_text(self.log_path, f"--- {now_iso()} {what}\n{trace}\n")
        return self.log_path

    def append_run(self, record: RunRecord) -> None:
        append_jsonl(self.runs_path, {"v": SCHEMA_VERSION, **record})

    def runs(self) -> list[RunRecord]:
        """Every run record; an unreadable or ill-shaped line (other than a torn last one) stops here."""
        good, bad = _scan_runs(self.runs_path)
        if bad:
            raise self._damaged(self.runs_path, [number for number, _ in bad], "runs")
        return [cast(RunRecord, record) for _, _, record in good]  # checked by _run_ok

    # -- papers -----------------------------------------------------------
    def papers(self) -> list[PaperMeta]:
        """Metadata of every paper cached in the workspace (arXiv and local), sorted by id."""
        found: list[PaperMeta] = []
        if self.papers_dir.exists():
            for meta_file in sorted(self.papers_dir.glob("*/meta.json")):
                try:
                    meta = read_json(meta_file)
                except (OSError, ValueError):
                    continue
                if isinstance(meta, dict) and meta.get("id"):
                    found.append(cast(PaperMeta, meta))  # JSON from disk with an id
        return found

    # -- one process at a time --------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the workspace for this process; the kernel drops the lock if the process dies."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                raise WorkspaceLocked(
                    f"Workspace {self.name!r} is in use by process {holder}. "
                    "Wait for it to finish or stop it (Ctrl-C) first."
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


_RUN_FIELDS: dict[str, tuple[type, ...]] = {"script": (str,), "duration_s": (int, float), "artifacts": (list,),
                                            "metrics": (dict, type(None)), "exit_code": (int, type(None))}


def _run_ok(record: Mapping[str, Any]) -> bool:
    """A runs.jsonl record the report and the run numbering can use: `run` a whole number, known fields typed."""
    run = record.get("run")
    if not isinstance(run, int) or isinstance(run, bool) or run < 0:
        return False
    return all(isinstance(record[k], kinds) for k, kinds in _RUN_FIELDS.items() if k in record)


def _scan_runs(path: Path, torn_too: bool = False) -> tuple[list[tuple[int, bytes, dict]], list[tuple[int, bytes]]]:
    """runs.jsonl as (usable lines, damaged lines); a torn last line (a kill's damage) counts only if `torn_too`."""
    good, bad, torn = scan_jsonl(path)
    damaged = bad[:-1] if torn and not torn_too else bad
    damaged += [(number, raw) for number, raw, record in good if not _run_ok(record)]
    return [g for g in good if _run_ok(g[2])], sorted(damaged)


def _set_aside(path: Path, good: list[tuple[int, bytes, dict]], bad: list[tuple[int, bytes]]) -> None:
    """Keep the damaged lines in the .corrupt file first, then replace the log by its usable lines."""
    if bad:
        keep_lines(path, bad)
        atomic_write_bytes(path, b"".join(raw + b"\n" for _, raw, _ in good))


def _usage(records: Sequence[StepRecord]) -> Usage:
    """Steps, tokens and cost in these records: the planner's own calls plus the worker's."""
    total = Usage(steps=0, tokens_in=0, tokens_out=0, cost_usd=0.0)
    for r in records:
        total["steps"] += 1 if r.get("type") == "action" else 0
        total["tokens_in"] += int(r.get("tokens_in") or 0) + int(r.get("worker_tokens_in") or 0)
        total["tokens_out"] += int(r.get("tokens_out") or 0) + int(r.get("worker_tokens_out") or 0)
        total["cost_usd"] += float(r.get("cost_usd") or 0.0) + float(r.get("worker_cost_usd") or 0.0)
    return total


def evidence_usage(records: Sequence[StepRecord]) -> TokenUsage:
    """Tokens and cost of gather_evidence's worker calls (its `evidence` records), shown apart by show and the report."""
    total = TokenUsage(tokens_in=0, tokens_out=0, cost_usd=0.0)
    for r in records:
        if r.get("type") == "evidence":
            total["tokens_in"] += int(r.get("worker_tokens_in") or 0)
            total["tokens_out"] += int(r.get("worker_tokens_out") or 0)
            total["cost_usd"] += float(r.get("worker_cost_usd") or 0.0)
    return total


def _at_least(meta: WorkspaceMeta, usage: Usage) -> Usage:
    """The larger of the recorded and the recounted counters: a budget must never loosen."""
    return Usage(steps=max(meta.get("steps") or 0, usage["steps"]),
                 tokens_in=max(meta.get("tokens_in") or 0, usage["tokens_in"]),
                 tokens_out=max(meta.get("tokens_out") or 0, usage["tokens_out"]),
                 cost_usd=round(max(meta.get("cost_usd") or 0.0, usage["cost_usd"]), 6))


def list_names(home: Path) -> list[str]:
    home = Path(home)
    if not home.is_dir():
        return []
    names = sorted(p.name for p in home.iterdir() if (p / "workspace.json").is_file())
    nested = sorted(home.glob(f"{EVALS_DIR}/*/*/workspace.json"))
    return names + [f"{EVALS_DIR}/{p.parent.parent.name}/{p.parent.name}" for p in nested]


def unique_name(home: Path, question: str) -> str:
    """A slug of the question, with a numeric suffix if that name is taken."""
    base = slugify(question)
    name, n = base, 2
    while (Path(home) / name).exists():
        name, n = f"{base}-{n}", n + 1
    return name


def elapsed_since(iso: str) -> float:
    try:
        return time.time() - datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return 0.0
