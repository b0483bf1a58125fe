"""Cold starts: `agent-scientist --help` and `memory search` as a user runs them, against a bare start.

Run: python bench/bench_startup.py. Prints, in the same run: a bare `python -c pass`, `--help`, a
CLI `memory search` on a workspace of 300 notes (median of N runs, each a new process), the same
search in a warm process (the in-process figure), and where one cold search spends its time
(imports, opening chromadb, loading the embedding model, the query).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5
PHASES = r"""
import sys, time
t0 = time.perf_counter()
from agent_scientist.config import load_settings
from agent_scientist.workspace import Workspace
import agent_scientist.cli
t1 = time.perf_counter()
from agent_scientist.memory import open_memory
s = load_settings({"home": sys.argv[1]})
store = open_memory(Workspace.open(s.home, "w"), s)
t2 = time.perf_counter()
from agent_scientist.memory.embedding import get_embedder
get_embedder()
t3 = time.perf_counter()
store.recall("calibration of deep networks", 5)
t4 = time.perf_counter()
print(f"{(t1 - t0) * 1e3:.0f} {(t2 - t1) * 1e3:.0f} {(t3 - t2) * 1e3:.0f} {(t4 - t3) * 1e3:.0f}")
"""


OPEN = r"""
import sys, time
t0 = time.perf_counter()
from agent_scientist.config import load_settings
from agent_scientist.workspace import Workspace
from agent_scientist.memory import open_memory
from agent_scientist.memory.embedding import preload
s = load_settings({"home": sys.argv[1]})
if sys.argv[2] == "preload":
    preload()
store = open_memory(Workspace.open(s.home, "w"), s)
store.embed(["warm-up"])
print(f"{(time.perf_counter() - t0) * 1e3:.0f}")
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from agent_scientist.config import load_settings
    from agent_scientist.memory import open_memory
    from agent_scientist.workspace import Workspace

    home = Path(tempfile.mkdtemp()) / "workspaces"
    s = load_settings({"home": str(home)})
    store = open_memory(Workspace.create(home, "w", "Q?"), s)
    store.add_notes([{"text": f"Note {i}: label smoothing changes calibration by {i / 10:.1f} points.",
                      "kind": "finding"} for i in range(300)])
    env = {**os.environ, "AGENT_SCIENTIST_HOME": str(home)}
    py = [sys.executable]
    bare = timed(py + ["-c", "pass"], env)
    helped = timed(py + ["-m", "agent_scientist", "--help"], env)
    cold = timed(py + ["-m", "agent_scientist", "memory", "search", "w", "calibration of deep networks"], env)
    warm = []
    for _ in range(20):
        start = time.perf_counter()
        store.recall("calibration of deep networks", 5)
        warm.append(time.perf_counter() - start)
    phases = subprocess.run(py + ["-c", PHASES, str(home)], env=env, capture_output=True, text=True, check=True)
    imports, chroma, model, query = phases.stdout.split()
    opened = {}
    for mode in ("sequential", "preload", "sequential", "preload"):
        run = subprocess.run(py + ["-c", OPEN, str(home), mode], env=env, capture_output=True, text=True, check=True)
        opened.setdefault(mode, []).append(float(run.stdout))
    print(f"bare python start:                 {bare * 1e3:7.0f} ms")
    print(f"agent-scientist --help:            {helped * 1e3:7.0f} ms ({helped / bare:.1f}x bare)")
    print(f"memory search, CLI (cold process): {cold * 1e3:7.0f} ms ({cold / bare:.1f}x bare)")
    print(f"memory search, in a warm process:  {statistics.median(warm) * 1e3:7.1f} ms")
    print(f"one cold search: CLI imports {imports} ms, open chromadb {chroma} ms, "
          f"load embedding model {model} ms, embed + query {query} ms")
    print(f"open memory + load model, one after the other: {min(opened['sequential']):7.0f} ms (best of 2); "
          f"model preloaded in a thread: {min(opened['preload']):7.0f} ms")


if __name__ == "__main__":
    main()
