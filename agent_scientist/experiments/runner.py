"""The `run_experiment` tool: run a script from files/ in the sandbox and record the run.

Owns the run log (runs.jsonl via ws.append_run), full output under files/runs/<n>/, artifact
detection (files under files/ created or changed by the run, files/runs/ excluded), metrics from
files/metrics.json, the bounded answer the model sees, and the sandbox checks shown by `doctor`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shlex
import signal
import stat
import threading
from pathlib import Path
from typing import Any

from agent_scientist.config import Settings
from agent_scientist.contracts import Check, Toolbox, ToolContext, ToolError
from agent_scientist.experiments.editor import resolve_in_files
from agent_scientist.experiments.executors import RunSpec, get_executor
from agent_scientist.records import RunRecord
from agent_scientist.sandbox import Capture, detect, report
from agent_scientist.untrusted import mark
from agent_scientist.workspace import Workspace, WorkspaceError, now_iso

STDOUT_CHARS = 2000
STDERR_CHARS = 1500
MAX_ARTIFACTS_SHOWN = 25
MAX_ARTIFACTS_RECORDED = 1000
MAX_METRICS_BYTES = 64 * 1024
MAX_TIMEOUT = 24 * 3600
_RUN_LOCK = threading.RLock()
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
INSTRUCTION = ("Experiments: write scripts with edit_file, run them with run_experiment (cwd is files/, "
               "{network}, {writable}); a script may write metrics.json to report numbers.")


def clamp_timeout(timeout: Any) -> tuple[int, str]:
    """Seconds to allow, within [1, MAX_TIMEOUT], and a note when the request was changed."""
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise ToolError(f"timeout must be a number of seconds, not {timeout!r}.") from None
    if math.isnan(value):
        raise ToolError("timeout must be a number of seconds, not NaN.")
    seconds = int(min(max(value, 1), MAX_TIMEOUT))
    changed = f"timeout={timeout!r} was clamped to {seconds} s (allowed: 1 to {MAX_TIMEOUT} s)." \
        if seconds != value and not (1 <= value <= MAX_TIMEOUT) else ""
    return seconds, changed


def next_run_number(ws: Workspace) -> int:
    """One more than any recorded run or existing files/runs/<n> folder."""
    try:
        numbers = [int(r.get("run") or 0) for r in ws.runs()]
    except WorkspaceError as exc:
        raise ToolError(str(exc)) from None
    runs_dir = ws.files_dir / "runs"
    if runs_dir.is_dir():
        numbers += [int(p.name) for p in runs_dir.iterdir() if p.name.isdigit()]
    return max(numbers, default=0) + 1


def render_tail(capture: Capture, limit: int, label: str, rel_path: str) -> str:
    """The end of one output stream as clean text, saying what was cut and where the rest is."""
    text = bytes(capture.tail).decode("utf-8", errors="replace")
    text = "\n".join(line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r")
                     for line in text.split("\n"))
    text = _CONTROL.sub("\ufffd", _ANSI.sub("", text))
    if text.count("\ufffd") > max(16, len(text) // 10):
        return (f"[{label}: {capture.total:,} bytes that look binary, not shown; "
                f"the first {capture.saved:,} bytes are saved in {rel_path}]")
    cut = len(text) > limit or capture.total > len(capture.tail)
    if len(text) > limit:
        text = text[-limit:]
    if not cut:
        return text
    note = f"[{label}: {capture.total:,} bytes in all, only the end is shown; full output in {rel_path}"
    if capture.saved < capture.total:
        note += f" (disk copy capped at {capture.saved:,} bytes)"
    return f"{note}]\n…{text}"


def read_metrics(files_dir: Path, changed: set[str], notes: list[str]) -> dict | None:
    if "metrics.json" not in changed:
        return None
    path = files_dir / "metrics.json"
    try:  # never follow a link: the experiment could point it at a file only the agent can read
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        notes.append("metrics.json is a symlink; write the numbers into the file itself." if path.is_symlink()
                     else f"metrics.json could not be read ({exc}).")
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                notes.append("metrics.json must be a plain file holding a JSON object.")
                return None
            raw = fh.read(MAX_METRICS_BYTES + 1)
        if len(raw) > MAX_METRICS_BYTES:
            notes.append(f"metrics.json is over {MAX_METRICS_BYTES // 1024} KB; keep it to summary numbers.")
            return None
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"metrics.json could not be read as JSON ({exc}).")
        return None
    if not isinstance(data, dict):
        notes.append("metrics.json must hold a JSON object, e.g. {\"accuracy\": 0.91}.")
        return None
    return data


def explain_exit(code: int | None, timed_out: bool, interrupted: bool, timeout: int, settings: Settings) -> str:
    if timed_out:
        return f"Timed out after {timeout} s: the whole process group was killed. Use a shorter run or a larger timeout."
    if interrupted:
        return "Interrupted by the user (Ctrl-C): the whole process group was killed."
    if code is None or code >= 0:
        return "" if code == 0 else f"Exited with code {code}; see stderr."
    sig = -code
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
    reasons: dict[int, str] = {signal.SIGXCPU: f"CPU time limit ({settings.sandbox_cpu_seconds} s) reached",
                               signal.SIGXFSZ: f"file size limit ({settings.sandbox_file_size_mb} MB) reached",
                               signal.SIGKILL: "killed (memory or process limit, or the system)",
                               signal.SIGSEGV: "crashed (segmentation fault; possibly out of memory)"}
    why = reasons.get(sig, "killed")
    return f"Killed by signal {name}: {why}."


def run_script(ctx: ToolContext, script: str, args: str = "", timeout: int = 600,
               namespaces: bool = True, *, cancel: threading.Event | None = None, wait_s: float | None = None,
               tail_scale: float = 1.0) -> dict[str, Any]:
    """Run `python script args` in the sandbox, record it in runs.jsonl, return the bounded answer."""
    ws, settings = ctx.ws, ctx.settings
    files_dir = ws.files_dir
    target = resolve_in_files(files_dir, script)
    if not target.is_file():
        present = sorted(p.name for p in files_dir.glob("*.py"))[:15]
        raise ToolError(f"No script {script!r} in files/ (Python files there: {', '.join(present) or 'none'}). "
                        "Create it with edit_file(command='create', ...) first.")
    try:
        if "\0" in (args or ""):
            raise ValueError("a NUL character cannot be passed to a program")
        argv_args = shlex.split(args or "")
    except ValueError as exc:
        raise ToolError(f"Cannot split args {args!r}: {exc}. Quote arguments as in a shell.") from None
    executor = get_executor(settings)
    executor.check(settings)  # refused before a run number is taken
    timeout, clamped = clamp_timeout(timeout)
    rel_script = target.relative_to(os.path.realpath(files_dir)).as_posix()
    notes: list[str] = [clamped] if clamped else []
    with _RUN_LOCK:  # parallel runs (run_experiments on Ray) take distinct numbers
        runs_dir = files_dir / "runs"
        if runs_dir.is_symlink():  # planted by an experiment: run outputs would be written where it points
            runs_dir.unlink()
            notes.append("files/runs was a symlink; it was removed (run outputs stay in files/runs/).")
        elif runs_dir.exists() and not runs_dir.is_dir():  # keep what the experiment wrote, under another name
            aside = files_dir / f"runs.not-a-folder.{now_iso().replace(':', '')}"
            runs_dir.rename(aside)
            notes.append(f"files/runs was not a folder; it was moved to {aside.name} and runs/ recreated.")
        number = next_run_number(ws)
        out_dir = files_dir / "runs" / str(number)
        out_dir.mkdir(parents=True, exist_ok=True)
    spec = RunSpec(files_dir, ws.root, rel_script, argv_args, timeout, out_dir, number, settings, namespaces, wait_s)
    started_at = now_iso()
    try:
        result = executor.run(spec, cancel)
    except ToolError:  # refused before it ran (e.g. files/ too big to upload): free the number
        with contextlib.suppress(OSError):
            out_dir.rmdir()
        raise
    except OSError as exc:
        raise ToolError(f"Could not start the sandbox ({exc}); the user should run `agent-scientist doctor`. "
                        "Do not retry.") from None
    with _RUN_LOCK:  # land this run's files and read its metrics.json before another run lands its own
        changed = result.apply()
        metrics = read_metrics(files_dir, set(changed), notes)
        if result.stopped:
            notes.insert(0, f"{result.stopped} (sandbox_write_mb = {settings.sandbox_write_mb}, "
                            f"sandbox_write_files = {settings.sandbox_write_files}). Delete what it wrote or write less.")
        if result.oom_killed:
            notes.insert(0, f"The memory limit ({settings.sandbox_memory_mb} MB for the whole run, /tmp included) "
                            "was reached: the kernel killed a process. Use less memory (smaller batches, streaming).")
        record: RunRecord = {
            "run": number, "script": rel_script, "args": args or "", "command": result.command,
            "started_at": started_at, "duration_s": result.duration_s, "exit_code": result.exit_code,
            "timed_out": result.timed_out, "artifacts": changed[:MAX_ARTIFACTS_RECORDED], "metrics": metrics,
            "output_dir": f"runs/{number}", "protections": result.protections, "gpus": result.gpus,
            "step": ctx.step, **result.placement,
        }
        if result.interrupted:
            record["interrupted"] = True
        if result.stopped or result.oom_killed:
            record["stopped"] = "write limit" if result.stopped else "memory limit"
        if result.error:
            record["error"] = result.error
        ws.append_run(record)
    if result.interrupted:
        raise KeyboardInterrupt
    if result.error:
        raise ToolError(result.error)
    missing = [name for name, ok in result.protections.items() if not ok]
    exit_note = explain_exit(result.exit_code, result.timed_out, result.interrupted, timeout, settings)
    notes = [n for n in [exit_note, *notes, *result.extra] if n]
    if missing:
        notes.append(f"Not enforced on {executor.where}: {', '.join(missing)}.")
    if missing or result.exit_code == 126:  # details of a failed protection or setup
        notes += result.notes[:3]
    notes += result.warnings
    notes.append(report.cuda_note(settings, result.gpus, bytes(result.stderr.tail).decode("utf-8", "replace")))
    shown = changed[:MAX_ARTIFACTS_SHOWN]
    if len(changed) > len(shown):
        shown.append(f"... and {len(changed) - len(shown)} more (see runs.jsonl or view files/)")
    return {
        "run": number, "exit_code": result.exit_code, "timed_out": result.timed_out,
        "duration_s": result.duration_s,
        "stdout": render_tail(result.stdout, int(STDOUT_CHARS * tail_scale), "stdout", f"runs/{number}/stdout.txt"),
        "stderr": render_tail(result.stderr, int(STDERR_CHARS * tail_scale), "stderr", f"runs/{number}/stderr.txt"),
        "artifacts": shown, "metrics": metrics, "output_dir": f"runs/{number}", "gpus": result.gpus,
        "protections": result.protections, "note": " ".join(n for n in notes if n),
    }


MAX_BATCH = 32


def run_many(ctx: ToolContext, runs: list[dict], namespaces: bool = True) -> list[dict[str, Any]]:
    """Several runs: together on Ray (answers in order), one after another locally; a bad entry is its error."""
    if not isinstance(runs, list) or not runs:
        raise ToolError("runs must be a non-empty list of dicts like {'script': 'train.py', 'args': '--seed 1'}.")
    if len(runs) > MAX_BATCH:
        raise ToolError(f"{len(runs)} runs in one call; at most {MAX_BATCH}. Split them into several calls.")
    bad = [i for i, r in enumerate(runs) if not isinstance(r, dict) or not isinstance(r.get("script"), str)
           or set(r) - {"script", "args", "timeout"}]
    if bad:
        raise ToolError(f"runs[{bad[0]}] must be a dict with 'script' and optional 'args' and 'timeout' "
                        f"(got {str(runs[bad[0]])[:200]}).")
    scale = min(1.0, 4 / len(runs))  # the whole answer stays about as long as four single runs

    def one(spec: dict, cancel: threading.Event | None = None, wait_s: float | None = None) -> dict[str, Any]:
        try:
            return run_script(ctx, spec["script"], str(spec.get("args") or ""), spec.get("timeout", 600),
                              namespaces, cancel=cancel, wait_s=wait_s, tail_scale=scale)
        except ToolError as exc:
            return {"script": spec["script"], "error": str(exc)}

    executor = get_executor(ctx.settings)
    if not executor.parallel:
        return [one(spec) for spec in runs]
    from concurrent.futures import ThreadPoolExecutor

    waves = -(-len(runs) // executor.slots(ctx.settings))  # a run may wait for earlier ones to free the executor
    longest = max(int(r.get("timeout", 600)) if str(r.get("timeout", 600)).isdigit() else 600 for r in runs)
    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix="run_experiments")
    futures = [pool.submit(one, spec, cancel, longest * waves + executor.grace_s) for spec in runs]
    try:
        for future in futures:
            while not future.done():  # short waits: Ctrl-C reaches this thread between them
                with contextlib.suppress(TimeoutError):
                    future.result(timeout=0.5)
    except KeyboardInterrupt:
        cancel.set()
    pool.shutdown(wait=True)
    answers = []
    for future in futures:
        try:
            answers.append(future.result())
        except KeyboardInterrupt:
            cancel.set()
    if cancel.is_set():
        raise KeyboardInterrupt
    return answers


def framed(answer: dict) -> dict:
    """A run's answer for the model: what the script printed is framed as untrusted data."""
    where = f"run {answer.get('run', '')}".strip()
    return {**answer, **{k: mark(answer[k], f"{where} {k}") for k in ("stdout", "stderr") if answer.get(k)}}


class RunnerCapability:
    """`run_experiment`, `run_experiments`: scripts from files/ run in the sandbox (here or on Ray), recorded in runs.jsonl."""

    name = "experiments"

    def register(self, ctx: ToolContext, box: Toolbox) -> None:
        _register(ctx, box)

    def doctor_checks(self, settings: Settings) -> list[Check]:
        checks = report.doctor_checks(settings)
        try:
            executor = get_executor(settings)
        except ToolError as exc:  # e.g. Ray not installed
            return [*checks, (settings.executor, False, str(exc).replace(" Do not retry.", ""))]
        return [*checks, *executor.doctor_checks(settings)]


def _register(ctx: ToolContext, box: Toolbox) -> None:
    """Add `run_experiment` and say how experiments work."""

    def run_experiment(script: str, args: str = "", timeout: int = 600) -> dict:
        """Run `python <script> <args>` in a sandbox (cwd files/, no network, only files/ writable).

        Returns exit_code, duration_s, stdout/stderr tails, artifacts (files changed), metrics (the
        script's metrics.json) and output_dir (full output under files/runs/<n>/).

        Args:
            script: path of the Python script relative to files/, e.g. 'exp/train.py'.
            args: command-line arguments as one string, split like a shell, e.g. '--lr 0.1 --seed 1'.
            timeout: seconds before the whole run is killed.
        """
        return framed(run_script(ctx, script, args, timeout))

    def run_experiments(runs: list[dict]) -> list[dict]:
        """Run several experiments at once, e.g. the seeds of a sweep; on a Ray cluster they run in parallel.

        Returns one answer per run, in order, shaped like run_experiment's (or {'script', 'error'}).
        Runs share files/: give each its own output names (metrics.json is read per run, but only the
        copy of the run that finished last stays in files/).

        Args:
            runs: up to 32 dicts with 'script' and optional 'args' and 'timeout', e.g.
                [{'script': 'train.py', 'args': '--seed 1'}, {'script': 'train.py', 'args': '--seed 2'}].
        """
        return [framed(answer) for answer in run_many(ctx, runs)]

    box.add_functions(run_experiment, run_experiments)
    caps = detect()  # tell the model what this machine really enforces
    network = "network allowed" if ctx.settings.sandbox_network else \
        "no network" if caps.unshare and caps.network_ns else "network not blocked here: do not download"
    writable = "only files/ is writable" if caps.unshare else "write only inside files/ (not enforced here)"
    box.instructions.append(INSTRUCTION.format(network=network, writable=writable))
    box.instructions.append(report.accelerators(ctx.settings))
    box.instructions.append(report.packages_line(ctx.settings))
