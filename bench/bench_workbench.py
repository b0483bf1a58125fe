"""Workbench figures: run_experiment overhead against a bare subprocess.run, and edit_file answer sizes.

Run: python bench/bench_workbench.py [repeats]. Everything happens in a temporary workspace.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent_scientist.agent.registry import planner_tools
from agent_scientist.config import load_settings
from agent_scientist.contracts import Toolbox, ToolContext
from agent_scientist.experiments import editor as editor_module
from agent_scientist.experiments.runner import run_script
from agent_scientist.sandbox import detect
from agent_scientist.workspace import Workspace


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(repeats: int = 20) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "workspaces"
        settings = load_settings({"home": str(home)})
        ws = Workspace.create(home, "bench")
        ctx = ToolContext(ws=ws, settings=settings)
        (ws.files_dir / "noop.py").write_text("pass\n")
        python = settings.sandbox_python

        def bare() -> None:
            subprocess.run([python, "noop.py"], cwd=ws.files_dir, check=True)

        base = median_ms(bare, repeats)
        print(f"do-nothing script, median of {repeats} runs")
        print(f"  bare subprocess.run:                 {base:7.1f} ms")
        modes = [("run_experiment (full sandbox)", True), ("run_experiment (degraded, no ns)", False)]
        if not detect().unshare:
            modes = modes[1:]
        for label, ns in modes:
            ms = median_ms(lambda ns=ns: run_script(ctx, "noop.py", timeout=60, namespaces=ns), repeats)
            print(f"  {label:<36} {ms:7.1f} ms  ratio {ms / base:4.2f}x  added {ms - base:6.1f} ms")

        box = Toolbox()
        editor_module.EditorCapability().register(ctx, box)
        edit = planner_tools(box)[0]
        big = "".join(f"    value_{i} = compute(value_{i - 1}, step={i})  # line {i}\n" for i in range(1, 2001))
        (ws.files_dir / "big.py").write_text(big)
        view = edit(command="view", path="big.py", view_start=1000, view_end=1039)
        replace = edit(command="str_replace", path="big.py", old_str="step=1500)", new_str="step=1500, fast=True)")
        insert = edit(command="insert", path="big.py", insert_line=10, new_str="    # a note\n")
        print("edit_file answer sizes (characters) on a 2,000-line file of "
              f"{len(big):,} characters")
        print(f"  view of 40 lines:   {len(view):6,}")
        print(f"  str_replace:        {len(replace):6,}")
        print(f"  insert of one line: {len(insert):6,}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
