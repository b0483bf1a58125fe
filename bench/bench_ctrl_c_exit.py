"""Ctrl-C to process exit, for a real (cold) `research` process, with where the seconds go.

The run makes step 1, then Ctrl-C arrives while step 2's model call is in flight and the worker server never
answers the end-of-run lessons call (the worst case: the lessons use their whole bound). Timeline per round,
from outside the process: SIGINT -> the "lessons skipped" line on stderr -> the "Report" line on stdout ->
exit. Baseline from the same run: the same scenario started as `python -c "...app()"`, which bypasses the
entry point's exit after an interrupt, so the interpreter's normal teardown (freeing litellm's, chromadb's and
onnxruntime's objects) runs as it did before.

    python bench/bench_ctrl_c_exit.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import OFFLINE  # noqa: E402 - the tests' loopback-only endpoints
from support.openai_server import ChatServer  # noqa: E402
from support.scripted import code  # noqa: E402

ENTRY = [sys.executable, "-m", "agent_scientist"]
BASELINE = [sys.executable, "-c", "from agent_scientist.cli import app; app(prog_name='agent-scientist')"]


def one_round(entry: list[str]) -> dict[str, float]:
    """One research run interrupted during step 2; the seconds from SIGINT to each mark."""
    planner_hold, worker_hold = threading.Event(), threading.Event()
    marks: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, ChatServer([code("print('one')"), planner_hold],
                                                          worker_script=[worker_hold]) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_SCIENTIST_")}
        env.update(OFFLINE)
        env.update(AGENT_SCIENTIST_HOME=str(Path(tmp) / "ws"), PYTHONUNBUFFERED="1", NO_COLOR="1")
        cmd = [*entry, "research", "Does X improve Y?", "--name", "w", "--model", "openai/gpt-4o-mini",
               "--worker-model", "openai/worker", "--api-base", server.url, "--quiet"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sigint = [0.0]

        def watch(stream: object, needle: str, key: str) -> None:
            for line in stream:  # type: ignore[attr-defined]
                if needle in line and key not in marks and sigint[0]:
                    marks[key] = time.monotonic() - sigint[0]

        readers = [threading.Thread(target=watch, args=(proc.stderr, "skipped", "lessons"), daemon=True),
                   threading.Thread(target=watch, args=(proc.stdout, "Report", "report"), daemon=True)]
        for reader in readers:
            reader.start()
        while server.held != 1:  # step 2's model call is in flight
            time.sleep(0.01)
        sigint[0] = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        marks["exit"] = time.monotonic() - sigint[0]
        for reader in readers:
            reader.join(5)
        planner_hold.set()
        worker_hold.set()
        if proc.returncode != 130:
            raise SystemExit(f"exit {proc.returncode}, expected 130")
    return marks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    results: dict[str, list[dict[str, float]]] = {"entry point": [], "baseline (normal teardown)": []}
    for _ in range(rounds):  # interleaved, so both see the same load
        results["entry point"].append(one_round(ENTRY))
        results["baseline (normal teardown)"].append(one_round(BASELINE))
    print(f"Ctrl-C during step 2, lessons call never answered; {rounds} rounds; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'':28} {'lessons skipped':>16} {'report written':>15} {'exit':>7}   (s after SIGINT, median)")
    medians = {}
    for name, rows in results.items():
        med = {k: statistics.median(r.get(k, float("nan")) for r in rows) for k in ("lessons", "report", "exit")}
        medians[name] = med["exit"]
        print(f"{name:28} {med['lessons']:16.2f} {med['report']:15.2f} {med['exit']:7.2f}   "
              "exits: " + ", ".join(f"{r['exit']:.2f}" for r in rows))
    ours, base = medians["entry point"], medians["baseline (normal teardown)"]
    print(f"exit after Ctrl-C: {ours:.2f} s vs {base:.2f} s with the interpreter's teardown "
          f"({base - ours:.2f} s saved; target <= 3 s)")


if __name__ == "__main__":
    main()
