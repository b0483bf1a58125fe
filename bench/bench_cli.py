"""Foundation speed: CLI start-up (--help, list over 100 workspaces) and harness overhead per step.

Run: python bench/bench_cli.py [--steps N]. Prints figures; the README quotes them.
Targets (issue 2): --help and list under 0.5 s each on 2 cores; median per-step overhead under 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _time_cmd(argv: list[str], env: dict[str, str], runs: int = 7) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def bench_startup() -> None:
    from agent_scientist.workspace import Workspace

    home = Path(tempfile.mkdtemp()) / "workspaces"
    for i in range(100):
        ws = Workspace.create(home, f"ws-{i:03d}", f"Question number {i}?")
        ws.append_step({"type": "action", "step": 1, "tokens_in": 10, "tokens_out": 2})
    env = {**os.environ, "AGENT_SCIENTIST_HOME": str(home)}
    py = [sys.executable]
    base_med, _ = _time_cmd(py + ["-c", "pass"], env)
    for label, args in (("--help", ["--help"]), ("list (100 workspaces)", ["list"]),
                        ("list --json (100 workspaces)", ["list", "--json"])):
        med, best = _time_cmd(py + ["-m", "agent_scientist", *args], env)
        print(f"{label:32s} median {med * 1000:6.0f} ms  best {best * 1000:6.0f} ms  "
              f"(bare python start {base_med * 1000:.0f} ms, ratio {med / base_med:.1f}x)")


def bench_step_overhead(steps: int) -> None:
    from support.scripted import ScriptedModel, code

    from agent_scientist.agent import loop
    from agent_scientist.capabilities import default_capabilities
    from agent_scientist.config import load_settings
    from agent_scientist.workspace import Workspace

    marks: list[tuple[float, float]] = []

    class Timed(ScriptedModel):
        def generate(self, messages, **kw):
            start = time.perf_counter()
            out = super().generate(messages, **kw)
            marks.append((start, time.perf_counter()))
            return out

    home = Path(tempfile.mkdtemp()) / "workspaces"
    settings = load_settings({"home": str(home), "model": "scripted/bench", "max_steps": steps + 5,
                              "context_threshold_tokens": 10_000_000})
    ws = Workspace.create(home, "bench", "Benchmark question?")
    replies = [code(f"print('step {i}')") for i in range(steps - 1)] + [code('final_answer("done")')]
    model = Timed(replies)
    start = time.perf_counter()
    with open(os.devnull, "w") as sink:
        saved, sys.stdout = sys.stdout, sink
        try:
            loop.run(ws, settings, model=model, worker_model=model, quiet=True, capabilities=default_capabilities())
        finally:
            sys.stdout = saved
    total = time.perf_counter() - start
    gaps = [marks[i + 1][0] - marks[i][1] for i in range(len(marks) - 1)]
    model_time = sum(end - begin for begin, end in marks)
    print(f"harness overhead per step over {len(gaps)} steps (code run, persistence, bookkeeping, prompt "
          f"building): median {statistics.median(gaps) * 1000:.1f} ms, p95 "
          f"{sorted(gaps)[int(len(gaps) * 0.95)] * 1000:.1f} ms, max {max(gaps) * 1000:.1f} ms")
    print(f"run total {total:.2f} s incl. set-up and end-of-run work; scripted model time {model_time * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    bench_startup()
    bench_step_overhead(args.steps)


if __name__ == "__main__":
    main()
