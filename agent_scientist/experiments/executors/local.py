"""The local executor: the run happens on this machine, in the sandbox, with files/ as its cwd."""

from __future__ import annotations

import os
import threading

from agent_scientist.config import Settings
from agent_scientist.contracts import Check, ToolError
from agent_scientist.experiments.executors import Outcome, RunSpec, hostname
from agent_scientist.experiments.snapshot import changed_since, snapshot
from agent_scientist.sandbox import run_sandboxed


class LocalExecutor:
    name = "local"
    where = "this machine"
    parallel = False  # one machine: a batch runs one after another
    grace_s = 0.0

    def check(self, settings: Settings) -> None:
        python = settings.sandbox_python
        if not os.path.isfile(python):
            raise ToolError(f"The configured interpreter {python!r} does not exist; the user must fix "
                            "AGENT_SCIENTIST_SANDBOX_PYTHON (sandbox_python). Do not retry.")

    def slots(self, settings: Settings) -> int:
        return 1

    def doctor_checks(self, settings: Settings) -> list[Check]:
        return []  # the sandbox's own checks (sandbox.report) cover this machine

    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> Outcome:
        """Run in the sandbox here; artifacts are what changed in files/ (runs/ excluded)."""
        files_dir, settings = spec.files_dir, spec.settings
        command = [settings.sandbox_python, spec.script, *spec.args]
        before = snapshot(files_dir)
        result = run_sandboxed(command, cwd=files_dir, workspace=spec.workspace,
                               writable=[files_dir, spec.workspace / "sandbox"],
                               home=spec.workspace / "sandbox" / "home", settings=settings,
                               timeout=spec.timeout, out_dir=spec.out_dir, namespaces=spec.namespaces)
        changed = changed_since(files_dir, before)
        return Outcome(result.exit_code, result.timed_out, result.interrupted, result.duration_s,
                       result.stdout, result.stderr, result.protections, result.notes, command,
                       {"executor": "local", "node": hostname()}, lambda: changed, gpus=result.gpus,
                       stopped=result.stopped, oom_killed=result.oom_killed, warnings=result.warnings)
