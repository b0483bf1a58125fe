"""Where an experiment runs: the seam between `run_experiment` and a machine.

An executor takes one prepared run (a script in files/, its arguments, a timeout, the run's output
folder) and returns an `Outcome` with the same fields whether the run happened here (`local`) or on
a Ray worker (`ray`): exit status, output tails, protections, where it ran, and `apply()`, which lands
the files the run created or changed in files/ and names them. The runner records and answers, and
asks the executor (never its name) whether runs may go together, how many fit, how long to wait for
one beyond its timeout, and what `doctor` should check.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent_scientist.config import Settings
from agent_scientist.contracts import Check
from agent_scientist.records import Placement

RAY_MISSING = ("executor = 'ray' needs Ray, which is not installed: pip install 'agent-scientist[ray]' "
               "(or set executor = 'local').")


@dataclass
class RunSpec:
    """One run, validated by the runner: `python script args` with cwd files/."""

    files_dir: Path
    workspace: Path
    script: str  # relative to files/
    args: list[str]
    timeout: int
    out_dir: Path  # files/runs/<n>
    number: int
    settings: Settings
    namespaces: bool = True
    wait_s: float | None = None  # how long the caller may wait in all (queueing on a busy cluster)


@dataclass
class Tail:
    """The end of one output stream and its sizes, as `runner.render_tail` reads them."""

    tail: bytes = b""
    total: int = 0
    saved: int = 0


@dataclass
class Outcome:
    exit_code: int | None
    timed_out: bool
    interrupted: bool
    duration_s: float
    stdout: Any  # a sandbox Capture or a Tail
    stderr: Any
    protections: dict[str, bool]
    notes: list[str]
    command: list[str]
    placement: Placement  # executor, node, resources: recorded in runs.jsonl
    apply: Callable[[], list[str]]  # lands returned files in files/; returns the changed paths
    error: str = ""  # the run was lost (worker or cluster gone): the tool error the model sees
    extra: list[str] = field(default_factory=list)  # notes for the answer (files left on the worker)
    gpus: list[str] = field(default_factory=list)  # GPUs the run could see, e.g. "0: NVIDIA H200, 140 GiB"
    stopped: str = ""  # why the sandbox stopped the run early (the total write cap), if it did
    oom_killed: bool = False  # the memory cgroup's limit killed a process
    warnings: list[str] = field(default_factory=list)  # what the model must know about the run's sandbox


class Executor(Protocol):
    """Where runs happen; the runner asks it, so a new executor is one module and one line in get_executor."""

    name: str
    where: str  # said in notes, e.g. "Not enforced on this machine: ..."
    parallel: bool  # run_experiments submits a batch at once (the executor queues it) or one after another
    grace_s: float  # beyond a run's timeout, how long a caller waits for it (scheduling, transfers)

    def check(self, settings: Settings) -> None:
        """Refuse, with a ToolError the model can act on, before a run number is taken."""

    def slots(self, settings: Settings) -> int:
        """How many runs of the configured size fit at once (how long a batch may have to wait)."""

    def doctor_checks(self, settings: Settings) -> list[Check]:
        """What `agent-scientist doctor` checks for this executor."""

    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> Outcome:
        """Run the spec to its end (or its timeout); KeyboardInterrupt is turned into `interrupted`."""


def hostname() -> str:
    try:
        return socket.gethostname()
    except OSError:
        return "localhost"


def get_executor(settings: Settings) -> Executor:
    """The executor the settings name; a missing Ray install is a clear ToolError."""
    if settings.executor == "ray":
        from agent_scientist.experiments.executors.ray import RayExecutor

        return RayExecutor.shared(settings)
    from agent_scientist.experiments.executors.local import LocalExecutor

    return LocalExecutor()
