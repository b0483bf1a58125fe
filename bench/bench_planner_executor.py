"""Planner executor cost: the sandboxed interpreter process against smolagents' in-process LocalPythonExecutor.

Run: python bench/bench_planner_executor.py [repeats]. Prints, from the same run: per-step time of a small
step in each (and the difference), a tool call's round trip in each (and the difference), and the
sandboxed interpreter's start (spawn to ready; once per run, overlapped with the first model call).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from bench_workbench import median_ms
from smolagents.local_python_executor import LocalPythonExecutor

from agent_scientist.agent.adapter import make_tool
from agent_scientist.agent.interpreter import SandboxedExecutor
from agent_scientist.sandbox import detect

STEP = "total = sum(range(100))\nprint('total', total)\ntotal"
CALLS = 50


def noop(text: str) -> str:
    """Return the text (a tool with nothing to do: what is left is the call's own cost).

    Args:
        text: Anything.
    """
    return text


def _tools() -> dict:
    return {"noop": make_tool(noop), "final_answer": make_tool(noop)}


def main(repeats: int = 30) -> None:
    local = LocalPythonExecutor([], max_print_outputs_length=10_000)
    local.send_tools(_tools())
    starts, imports, outside = [], [], []  # interleaved, so both see the same load
    for _ in range(5):
        started = time.perf_counter()  # the same import outside any sandbox
        subprocess.run([sys.executable, "-I", "-c", "from smolagents.local_python_executor import LocalPythonExecutor"],
                       check=True, cwd="/tmp", env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
        outside.append(time.perf_counter() - started)
        fresh = SandboxedExecutor([], 10_000)
        fresh.send_tools(_tools())
        fresh(STEP)
        starts.append(fresh.start_s or 0.0)
        imports.append(fresh.import_s)
        fresh.close()
    boxed = SandboxedExecutor([], 10_000)
    boxed.send_tools(_tools())
    boxed(STEP)
    calls = f"for i in range({CALLS}):\n    noop('x')"
    step_local, step_boxed = median_ms(lambda: local(STEP), repeats), median_ms(lambda: boxed(STEP), repeats)
    loop_local = median_ms(lambda: local(calls), max(5, repeats // 3))
    loop_boxed = median_ms(lambda: boxed(calls), max(5, repeats // 3))
    empty = f"for i in range({CALLS}):\n    len('x')"  # the same loop without the tool: its own cost
    base_local = median_ms(lambda: local(empty), max(5, repeats // 3))
    base_boxed = median_ms(lambda: boxed(empty), max(5, repeats // 3))
    call_local, call_boxed = (loop_local - base_local) / CALLS, (loop_boxed - base_boxed) / CALLS
    isolated = "namespaces" if detect().unshare else "NO namespaces (degraded: separate process only)"
    print(f"sandbox here: {isolated}; protections: {sorted(k for k, v in boxed.protections.items() if v)}")
    print(f"step (median of {repeats}):       in-process {step_local:7.2f} ms   sandboxed {step_boxed:7.2f} ms   "
          f"added {step_boxed - step_local:+7.2f} ms")
    print(f"tool call round trip (median): in-process {call_local:7.3f} ms   sandboxed {call_boxed:7.3f} ms   "
          f"added {call_boxed - call_local:+7.3f} ms")
    print(f"interpreter start (spawn to ready, median of {len(starts)}): {statistics.median(starts) * 1000:7.0f} ms "
          f"(min {min(starts) * 1000:.0f} ms); of which importing smolagents inside: "
          f"{statistics.median(imports) * 1000:.0f} ms; the rest (sandbox set-up, interpreter start): "
          f"{statistics.median([s - i for s, i in zip(starts, imports, strict=True)]) * 1000:.0f} ms; a whole "
          f"`python -I -c 'import ...LocalPythonExecutor'` outside the sandbox: {statistics.median(outside) * 1000:.0f} ms")
    started = time.perf_counter()
    boxed.close()
    print(f"interpreter stop: {(time.perf_counter() - started) * 1000:.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
