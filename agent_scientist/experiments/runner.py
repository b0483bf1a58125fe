"""The `run_experiment` tool: run a script from files/ in the sandbox and record the run.

Owns the run log (runs.jsonl via ws.append_run), full output under files/runs/<n>/, artifact
detection (files under files/ created or changed by the run, files/runs/ excluded), metrics from
files/metrics.json, the bounded answer the model sees, and the sandbox checks shown by `doctor`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import stat
import sys
from pathlib import Path
from typing import Any

from agent_scientist.agent.registry import Check, Toolbox, ToolContext, ToolError
from agent_scientist.config import Settings
from agent_scientist.experiments.editor import resolve_in_files
from agent_scientist.experiments.sandbox import Capture, detect, run_sandboxed
from agent_scientist.records import RunRecord
from agent_scientist.workspace import Workspace, now_iso

STDOUT_CHARS = 2000
STDERR_CHARS = 1500
MAX_ARTIFACTS_SHOWN = 25
MAX_ARTIFACTS_RECORDED = 1000
MAX_WALK = 20000
MAX_METRICS_BYTES = 64 * 1024
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
INSTRUCTION = ("Experiments: write scripts with edit_file, run them with run_experiment (cwd is files/, "
               "{network}, {writable}); a script may write metrics.json to report numbers.")


def snapshot(files_dir: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under files/ except files/runs/, to find what a run changed."""
    found: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(files_dir):
        if Path(dirpath) == files_dir and "runs" in dirnames:
            dirnames.remove("runs")
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            found[os.path.relpath(path, files_dir).replace(os.sep, "/")] = (st.st_size, st.st_mtime_ns)
            if len(found) >= MAX_WALK:
                return found
    return found


def next_run_number(ws: Workspace) -> int:
    """One more than any recorded run or existing files/runs/<n> folder."""
    numbers = [int(r.get("run") or 0) for r in ws.runs()]
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
    why = {signal.SIGXCPU: f"CPU time limit ({settings.sandbox_cpu_seconds} s) reached",
           signal.SIGXFSZ: f"file size limit ({settings.sandbox_file_size_mb} MB) reached",
           signal.SIGKILL: "killed (memory or process limit, or the system)",
           signal.SIGSEGV: "crashed (segmentation fault; possibly out of memory)"}.get(sig, "killed")
    return f"Killed by signal {name}: {why}."


def run_script(ctx: ToolContext, script: str, args: str = "", timeout: int = 600,
               namespaces: bool = True) -> dict[str, Any]:
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
    python = settings.sandbox_python
    if not os.path.isfile(python):
        raise ToolError(f"The configured interpreter {python!r} does not exist; the user must fix "
                        "AGENT_SCIENTIST_SANDBOX_PYTHON (sandbox_python). Do not retry.")
    try:
        timeout = max(1, int(timeout))
    except (TypeError, ValueError):
        raise ToolError(f"timeout must be a number of seconds, not {timeout!r}.") from None
    rel_script = target.relative_to(os.path.realpath(files_dir)).as_posix()
    notes: list[str] = []
    runs_dir = files_dir / "runs"
    if runs_dir.is_symlink():  # planted by an experiment: run outputs would be written where it points
        runs_dir.unlink()
        notes.append("files/runs was a symlink; it was removed (run outputs stay in files/runs/).")
    number = next_run_number(ws)
    out_dir = files_dir / "runs" / str(number)
    command = [python, rel_script, *argv_args]
    before = snapshot(files_dir)
    started_at = now_iso()
    try:
        result = run_sandboxed(command, cwd=files_dir, workspace=ws.root,
                               writable=[files_dir, ws.root / "sandbox"], home=ws.root / "sandbox" / "home",
                               settings=settings, timeout=timeout, out_dir=out_dir, namespaces=namespaces)
    except OSError as exc:
        raise ToolError(f"Could not start the sandbox ({exc}); the user should run `agent-scientist doctor`. "
                        "Do not retry.") from None
    after = snapshot(files_dir)
    changed = sorted(p for p, stamp in after.items() if before.get(p) != stamp)
    metrics = read_metrics(files_dir, set(changed), notes)
    record: RunRecord = {
        "run": number, "script": rel_script, "args": args or "", "command": command, "started_at": started_at,
        "duration_s": result.duration_s, "exit_code": result.exit_code, "timed_out": result.timed_out,
        "artifacts": changed[:MAX_ARTIFACTS_RECORDED], "metrics": metrics, "output_dir": f"runs/{number}",
        "protections": result.protections, "step": ctx.step,
    }
    if result.interrupted:
        record["interrupted"] = True
    ws.append_run(record)
    if result.interrupted:
        raise KeyboardInterrupt
    missing = [name for name, ok in result.protections.items() if not ok]
    exit_note = explain_exit(result.exit_code, result.timed_out, result.interrupted, timeout, settings)
    notes = [n for n in [exit_note, *notes] if n]
    if missing:
        notes.append(f"Not enforced on this machine: {', '.join(missing)}.")
    if missing or result.exit_code == 126:  # details of a failed protection or setup
        notes += result.notes[:3]
    shown = changed[:MAX_ARTIFACTS_SHOWN]
    if len(changed) > len(shown):
        shown.append(f"... and {len(changed) - len(shown)} more (see runs.jsonl or view files/)")
    return {
        "run": number, "exit_code": result.exit_code, "timed_out": result.timed_out,
        "duration_s": result.duration_s,
        "stdout": render_tail(result.stdout, STDOUT_CHARS, "stdout", f"runs/{number}/stdout.txt"),
        "stderr": render_tail(result.stderr, STDERR_CHARS, "stderr", f"runs/{number}/stderr.txt"),
        "artifacts": shown, "metrics": metrics, "output_dir": f"runs/{number}",
        "protections": result.protections, "note": " ".join(notes),
    }


class RunnerCapability:
    """`run_experiment`: scripts from files/ run in the sandbox, each run recorded in runs.jsonl."""

    name = "experiments"

    def register(self, ctx: ToolContext, box: Toolbox) -> None:
        _register(ctx, box)

    def doctor_checks(self, settings: Settings) -> list[Check]:
        return doctor_checks(settings)


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
        return run_script(ctx, script, args, timeout)

    box.add_functions(run_experiment)
    caps = detect()  # tell the model what this machine really enforces
    network = "network allowed" if ctx.settings.sandbox_network else \
        "no network" if caps.unshare and caps.network_ns else "network not blocked here: do not download"
    writable = "only files/ is writable" if caps.unshare else "write only inside files/ (not enforced here)"
    box.instructions.append(INSTRUCTION.format(network=network, writable=writable))


NOT_ENFORCED = {  # what a user risks when a protection is missing, shown by `doctor`
    "kill_tree": "a grandchild that leaves the process group can outlive a timeout",
    "cpu_limit": "a busy loop can use CPU until the timeout", "memory_limit": "a memory hog can exhaust RAM",
    "file_size_limit": "a disk filler can fill the disk",
    "process_limit": "a fork bomb is not bounded",
    "read_only_fs": "experiments can write anywhere your user can",
    "home_hidden": "experiments can read your home directory, e.g. ~/.netrc, ~/.aws, ~/.ssh",
    "private_tmp": "experiments share /tmp with the rest of the machine",
    "no_network": "experiments can reach the network",
    "no_capabilities": "experiments run with root's capabilities",
}
NS_FIX = ("enable unprivileged user namespaces: `sudo sysctl -w kernel.unprivileged_userns_clone=1` (Debian), "
          "`sudo sysctl -w user.max_user_namespaces=10000`, on Ubuntu 23.10+ also "
          "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`; in Docker allow unshare "
          "(--security-opt seccomp=unconfined)")


def protection_report(settings: Settings) -> dict[str, tuple[bool, str]]:
    """Which protections a run would get on this machine; a missing one says what is at risk and the fix."""
    caps = detect()
    ns, root = bool(caps.unshare), os.geteuid() == 0
    nproc = caps.rlimits and not root
    report = {
        "process_group": (True, "own session and process group"),
        "kill_tree": (ns or bool(caps.cgroup_base), "PID namespace" if ns else "pids cgroup"),
        "cpu_limit": (caps.rlimits and settings.sandbox_cpu_seconds > 0, f"{settings.sandbox_cpu_seconds} s"),
        "memory_limit": (caps.rlimits and settings.sandbox_memory_mb > 0, f"{settings.sandbox_memory_mb} MB"),
        "file_size_limit": (caps.rlimits and settings.sandbox_file_size_mb > 0,
                            f"{settings.sandbox_file_size_mb} MB"),
        "process_limit": (settings.sandbox_max_procs > 0 and (bool(caps.cgroup_base) or nproc),
                          f"{settings.sandbox_max_procs} processes (" + (caps.details.get("cgroup", "")
                          if caps.cgroup_base or not nproc else "RLIMIT_NPROC") + ")"),
        "clean_env": (True, "credential-like variables are never passed"),
        "read_only_fs": (ns, "mount namespace"),
        "home_hidden": (ns, "home directories hidden"),
        "private_tmp": (ns, "private /tmp"),
        "no_network": (settings.sandbox_network or (ns and caps.network_ns),  # allowing it is the user's call
                       "not isolated: sandbox_network=true allows network" if settings.sandbox_network
                       else "network namespace"),
        "no_capabilities": (ns or not root or sys.platform.startswith("linux"), "capabilities dropped"),
    }
    fixes = {"cpu_limit": "set sandbox_cpu_seconds > 0", "memory_limit": "set sandbox_memory_mb > 0",
             "file_size_limit": "set sandbox_file_size_mb > 0",
             "process_limit": "set sandbox_max_procs > 0 and run as a normal user, or give agent-scientist a "
                              "writable pids cgroup (" + caps.details.get("cgroup", "") + ")",
             "no_network": caps.details.get("network", "")}
    if not caps.rlimits:
        fixes.update(dict.fromkeys(["cpu_limit", "memory_limit", "file_size_limit"], caps.details["rlimits"]))
    ns_told = False
    for name, (ok, _) in list(report.items()):
        if ok:
            continue
        fix = fixes.get(name, "")
        if not ns and name in ("kill_tree", "read_only_fs", "home_hidden", "private_tmp", "no_network"):
            why = caps.details.get("namespaces", "")
            fix = "needs user namespaces (see the fix above)" if ns_told else f"needs user namespaces ({why})" + (
                f"; to fix, {NS_FIX}" if sys.platform.startswith("linux") else "")
            ns_told = True
        report[name] = (False, f"NOT enforced ({NOT_ENFORCED.get(name, name)})" + (f": {fix}" if fix else ""))
    return report


def doctor_checks(settings: Settings) -> list[Check]:
    """One check per sandbox protection, plus the interpreter, for `agent-scientist doctor`."""
    python = settings.sandbox_python
    checks = [("sandbox interpreter", os.path.isfile(python),
               python if os.path.isfile(python) else f"{python} not found: set AGENT_SCIENTIST_SANDBOX_PYTHON")]
    for name, (ok, detail) in protection_report(settings).items():
        checks.append((f"sandbox {name.replace('_', ' ')}", ok, detail))
    return checks
