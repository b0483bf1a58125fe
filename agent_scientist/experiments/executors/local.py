"""The local executor: the run happens on this machine, in the sandbox, with files/ as its cwd."""

from __future__ import annotations

import threading

from agent_scientist.experiments.executors import Outcome, RunSpec, hostname
from agent_scientist.experiments.sandbox import run_sandboxed


class LocalExecutor:
    name = "local"

    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> Outcome:
        """Run in the sandbox here; artifacts are what changed in files/ (runs/ excluded)."""
        from agent_scientist.experiments.runner import snapshot

        files_dir, settings = spec.files_dir, spec.settings
        command = [settings.sandbox_python, spec.script, *spec.args]
        before = snapshot(files_dir)
        result = run_sandboxed(command, cwd=files_dir, workspace=spec.workspace,
                               writable=[files_dir, spec.workspace / "sandbox"],
                               home=spec.workspace / "sandbox" / "home", settings=settings,
                               timeout=spec.timeout, out_dir=spec.out_dir, namespaces=spec.namespaces)
        after = snapshot(files_dir)
        changed = sorted(p for p, stamp in after.items() if before.get(p) != stamp)
        return Outcome(result.exit_code, result.timed_out, result.interrupted, result.duration_s,
                       result.stdout, result.stderr, result.protections, result.notes, command,
                       {"executor": "local", "node": hostname()}, lambda: changed, gpus=result.gpus,
                       stopped=result.stopped, oom_killed=result.oom_killed, warnings=result.warnings)
