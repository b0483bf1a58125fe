"""Cold starts as a user runs them: commands that do no work, memory search, papers read --query, and the
time from `research` / `resume` start to the first model request; each against a bare start, same run.

Run: python bench/bench_startup.py [--base /path/to/other/venv/bin/python | --base-src DIR] [--runs 5]
     [--quick | --reads] [--skip-first-call]

--base-src DIR runs the "before" under this interpreter with DIR (a checkout of main: `git archive main | tar -x
-C DIR`) first on PYTHONPATH, so no second venv is needed. --quick measures only the commands that do no work,
--reads only `memory search` and `papers read --query` (with a bare start, `--help` and `import chromadb`).
Python's bytecode cache is on, as in an installed package (a user's second start reads the .pyc files): the
children run with PYTHONDONTWRITEBYTECODE unset and their cache under a temporary PYTHONPYCACHEPREFIX, each
command once untimed first; --no-bytecode-cache measures starts that compile every module of the tree instead.

CPU time is the children's user+system time (resource.getrusage(RUSAGE_CHILDREN)), the steadier figure on a
shared machine; wall time is also printed. With --base, every command also runs under that interpreter (a
checkout of main installed in another venv), interleaved run by run with this one, so "before" and "after"
come from the same minutes of the same machine, and the outputs of both are compared (same results).
The first-model-call figure comes from a loopback OpenAI-compatible server that records when each request
arrives. At the end: where one cold `memory search` spends its CPU time (imports, loading the embedding
model, opening the store, the query), for this checkout.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

QUERY = "calibration of deep networks"
FINAL = 'Thought: done.\n<code>\nfinal_answer("Label smoothing improves calibration.")\n</code>'

PHASES = r"""
import resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
marks = [("", cpu())]
import agent_scientist.cli, agent_scientist.cli.memory
marks.append(("CLI imports", cpu()))
import numpy
marks.append(("numpy", cpu()))
from agent_scientist.config import load_settings
from agent_scientist.memory.embedding import _import_openvino, get_embedder, resolve_runtime
s = load_settings({"home": sys.argv[1]})
runtime = resolve_runtime(s.embedding_runtime)
import tokenizers
if runtime == "openvino":
    _import_openvino()
else:
    import onnxruntime
marks.append((runtime + " + tokenizers", cpu()))
get_embedder("local", "", runtime)
marks.append(("load the embedding model", cpu()))
import chromadb_rust_bindings
marks.append(("import chromadb's core", cpu()))
from agent_scientist.memory import open_memory
from agent_scientist.workspace import Workspace
store = open_memory(Workspace.open(s.home, "w"), s, for_reading=True)
marks.append(("open the store (%s)" % type(store.client).__name__, cpu()))
store.recall("calibration of deep networks", 5)
marks.append(("embed + search", cpu()))
import agent_scientist.agent.progress, rich.console
marks.append(("print (rich)", cpu()))
print(" | ".join(f"{name} {(b - a) * 1e3:.0f}" for (_, a), (name, b) in zip(marks, marks[1:])))
"""


def child_env(env: dict[str, str], bytecode: bool, src: str = "") -> dict[str, str]:
    """The environment of a measured process: bytecode cached (or not), and the base checkout first on the path."""
    env = dict(env)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "agent-scientist-bench-pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    if src:
        env["PYTHONPATH"] = src
    return env


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(CPU s, wall s, stdout) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # Outside any checkout: `python -m` puts the working folder first on sys.path, which would run this tree
    # under the base interpreter too.
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[1:]} exited {done.returncode}: {done.stderr[-800:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, done.stdout


def build_home(home: Path) -> None:
    """w: 300 notes; full: a finished workspace with a report; lib: one PDF with its passages indexed."""
    from support.pdfs import make_paper
    from support.report_ws import full_workspace

    from agent_scientist.config import load_settings
    from agent_scientist.memory import open_memory
    from agent_scientist.workspace import Workspace

    s = load_settings({"home": str(home)})
    store = open_memory(Workspace.create(home, "w", "Q?"), s)
    store.add_notes([{"text": f"Note {i}: label smoothing changes calibration by {i / 10:.1f} points.",
                      "kind": "finding"} for i in range(300)])
    full_workspace(home)
    pdf = home.parent / "paper.pdf"
    pdf.write_bytes(make_paper(pages=6))
    env = {**os.environ, "AGENT_SCIENTIST_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "agent_scientist", "papers", "add", str(pdf), "--name", "lib"],
                   env=env, check=True, capture_output=True)
    # Its tables and figures extracted now: a read starts that in a thread when it is not done (1.4 s CPU for
    # this paper, more than the read), and a process that ends first neither caches it nor stops cleanly.
    from agent_scientist.papers import visuals
    from agent_scientist.papers.layout import paper_dir

    visuals.ensure(paper_dir(Workspace.open(home, "lib"), "local:" + _local_id(home)))


def first_call(python: str, env: dict[str, str], home: Path, server: object, arrivals: list[float],
               resume: bool) -> tuple[float, float]:
    """Seconds from the process start to the first model request it sends, and the process's CPU seconds."""
    name = f"r{len(arrivals)}"
    env = {**env, "AGENT_SCIENTIST_HOME": str(home), "OPENAI_API_KEY": "sk-bench"}
    base = ["--model", "openai/gpt-4o-mini", "--worker-model", "openai/worker", "--api-base",
            server.url, "--quiet"]  # type: ignore[attr-defined]
    if resume:  # a finished workspace to resume: run it once first
        subprocess.run([python, "-m", "agent_scientist", "research", "Does X improve Y?", "--name", name, *base],
                       env=env, check=True, capture_output=True, cwd=tempfile.gettempdir())
        argv = [python, "-m", "agent_scientist", "resume", name, "--instruction", "Check once more.", *base]
    else:
        argv = [python, "-m", "agent_scientist", "research", "Does X improve Y?", "--name", name, *base]
    seen = len(arrivals)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True, cwd=tempfile.gettempdir())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return arrivals[seen] - start, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="", help="python of a venv with main installed: the 'before'")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--base-src", default="", help="a checkout of main, run with this interpreter: the 'before'")
    parser.add_argument("--skip-first-call", action="store_true")
    parser.add_argument("--quick", action="store_true", help="only the commands that do no work")
    parser.add_argument("--reads", action="store_true",
                        help="only a bare start, --help, import chromadb and the two reading commands")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="compile every module at every start")
    args = parser.parse_args()
    pythons = {"after": sys.executable}
    if args.base or args.base_src:
        pythons = {"before": args.base or sys.executable, **pythons}
    home = Path(tempfile.mkdtemp()) / "workspaces"
    if args.quick:
        from support.report_ws import full_workspace

        full_workspace(home)
    else:
        build_home(home)
    base_env = {**os.environ, "AGENT_SCIENTIST_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "120"}
    bytecode = not args.no_bytecode_cache
    envs = {which: child_env(base_env, bytecode, args.base_src if which == "before" else "") for which in pythons}
    env = envs["after"]
    commands = [
        ("python -c pass", ["-c", "pass"]),
        ("--help", ["-m", "agent_scientist", "--help"]),
        ("--version", ["-m", "agent_scientist", "--version"]),
        ("list", ["-m", "agent_scientist", "list"]),
        ("show full", ["-m", "agent_scientist", "show", "full"]),
        ("export full (markdown)", ["-m", "agent_scientist", "export", "full", "--output", "-"]),
    ]
    if args.reads:
        commands = commands[:2]
    if not args.quick:
        commands += [
        ("import chromadb", ["-c", "import chromadb"]),
        ("memory search (300 notes)", ["-m", "agent_scientist", "memory", "search", "w", QUERY]),
        ("papers read --query", ["-m", "agent_scientist", "papers", "read", "local:" + _local_id(home),
                                 "--query", "sparse widgets gadget accuracy", "--name", "lib"]),
        ]
    if args.base_src:  # the base checkout must be what "before" imports
        where = subprocess.run([pythons["before"], "-c", "import agent_scientist; print(agent_scientist.__file__)"],
                               env=envs["before"], capture_output=True, text=True, cwd=tempfile.gettempdir())
        assert where.stdout.strip().startswith(str(Path(args.base_src).resolve())), where.stdout
    for _label, argv in commands:  # untimed: writes the bytecode cache (when on) and warms the disk cache
        for which, python in pythons.items():
            run_once([python, *argv], envs[which])
    cpu: dict[tuple[str, str], list[float]] = {}
    wall: dict[tuple[str, str], list[float]] = {}
    outputs: dict[tuple[str, str], str] = {}
    for _ in range(args.runs):
        for label, argv in commands:
            for which, python in pythons.items():
                c, w, out = run_once([python, *argv], envs[which])
                cpu.setdefault((label, which), []).append(c)
                wall.setdefault((label, which), []).append(w)
                outputs[(label, which)] = out
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; median of {args.runs} "
          f"runs, each a new process, interleaved; bytecode cache {'on' if bytecode else 'off'}")
    cols = "  ".join(f"{w:>22s}" for w in pythons)
    print(f"{'command':28s}  {cols}   (CPU ms, x bare CPU, x --help CPU; wall ms)")
    med = {key: statistics.median(v) for key, v in cpu.items()}
    for label, _ in commands:
        cells = []
        for which in pythons:
            c = med[(label, which)]
            cells.append(f"{c * 1e3:5.0f} {c / med[('python -c pass', which)]:4.1f}x "
                         f"{c / med[('--help', which)]:4.1f}x {statistics.median(wall[(label, which)]) * 1e3:5.0f}")
        same = ""
        if len(pythons) == 2 and label.split()[0] in ("memory", "papers", "export", "show", "list"):
            same = "  same output" if outputs[(label, "before")] == outputs[(label, "after")] else "  OUTPUT DIFFERS"
        print(f"{label:28s}  " + "  ".join(f"{c:>22s}" for c in cells) + same)
    if args.quick:
        return
    if not args.skip_first_call and not args.reads:
        bench_first_call(pythons, envs, home, args.runs, wall)
    phases = subprocess.run([sys.executable, "-c", PHASES, str(home)], env=env, capture_output=True, text=True,
                            check=True)
    print(f"one cold search (after), CPU ms by phase, one after another (the command overlaps the model's load "
          f"with the rest): {phases.stdout.strip()}")


def bench_first_call(pythons: dict[str, str], envs: dict[str, dict[str, str]], home: Path, runs: int,
                     wall: dict) -> None:
    from support.openai_server import ChatServer

    arrivals: list[float] = []

    def note(payload: dict) -> None:
        if payload.get("model") != "worker":
            arrivals.append(time.perf_counter())
        return None

    with ChatServer(default=FINAL, responder=note) as server:
        for resume in (False, True):
            got: dict[str, list[tuple[float, float]]] = {}
            for _ in range(runs):
                for which, python in pythons.items():
                    got.setdefault(which, []).append(first_call(python, envs[which], home, server, arrivals, resume))
            label = "resume" if resume else "research"
            cells = []
            for which in pythons:
                first = statistics.median(t for t, _ in got[which])
                helped = statistics.median(wall[("--help", which)])
                cells.append(f"{which}: {first * 1e3:5.0f} ms ({first / helped:.1f}x --help wall)")
            print(f"{label}: start to first model request  " + "   ".join(cells))


def _local_id(home: Path) -> str:
    from agent_scientist.workspace import Workspace

    papers = Workspace.open(home, "lib").papers()
    return papers[0]["id"].removeprefix("local:")


if __name__ == "__main__":
    main()
