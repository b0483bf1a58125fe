"""`agent-scientist eval` speed: harness overhead per question, and N questions at concurrency 1 and 4.

Run: python bench/bench_eval.py [--questions 20] [--latency 0]. A loopback chat server answers every
question in one step (the scripted planner); `--latency S` makes each model reply take S seconds, as a
real provider does. Baseline from the same run: the same questions through the research path
(Workspace.create, loop.run, write_report) one after another in a single process, with no eval
harness. The README quotes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

MODEL, WORKER = "openai/gpt-4o-mini", "openai/worker"


def _questions(n: int) -> list[dict]:
    return [{"id": f"b{i:03d}", "question": f"Question b{i:03d}: which is it?", "ideal": "right",
             "distractors": ["wrong one", "wrong two"]} for i in range(n)]


def _responder(questions: list[dict], latency: float):
    from support.scripted import code

    from agent_scientist.evals.formats import LETTERS, Question, options

    letters = {q["id"]: LETTERS[options(Question(q["id"], q["question"], "mc", ideal=q["ideal"],
                                                 distractors=q["distractors"]), 0).index("right")]
               for q in questions}

    def respond(payload: dict) -> str | None:
        if latency:
            time.sleep(latency)
        if payload["model"] == "worker":
            return None
        text = "\n".join(m["content"] for m in payload["messages"])
        for qid, letter in letters.items():
            if f"Question {qid}:" in text:
                return code(f"final_answer('Answer: ({letter})')")
        return None

    return respond


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_SCIENTIST_")}
    env.update({"AGENT_SCIENTIST_HOME": str(home), "AGENT_SCIENTIST_ARXIV_API_URL": "http://127.0.0.1:9/api",
                "AGENT_SCIENTIST_ARXIV_PDF_URL": "http://127.0.0.1:9/pdf/{id}", "NO_COLOR": "1"})
    return env


def run_eval(questions: list[dict], concurrency: int, url: str, workdir: Path) -> tuple[float, dict]:
    home = workdir / f"home-c{concurrency}"
    home.mkdir(parents=True)
    path = workdir / "set.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in questions))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "agent_scientist", "eval", str(path), "--model", MODEL,
                          "--worker-model", WORKER, "--api-base", url, "--concurrency", str(concurrency),
                          "--json"], env=_env(home), capture_output=True, text=True, cwd=workdir, check=True)
    return time.perf_counter() - start, json.loads(out.stdout)


def run_baseline(questions: list[dict], url: str, workdir: Path) -> float:
    """The research path alone, in one process: what each question costs without the eval harness."""
    from agent_scientist.agent import loop
    from agent_scientist.agent.progress import Progress
    from agent_scientist.capabilities import default_capabilities
    from agent_scientist.config import load_settings
    from agent_scientist.evals.formats import Question, options, task_text
    from agent_scientist.report import write_report
    from agent_scientist.workspace import Workspace

    home = workdir / "home-baseline"
    os.environ.update(_env(home))
    settings = load_settings({"home": str(home), "model": MODEL, "worker_model": WORKER, "api_base": url})
    loop.run(Workspace.create(home, "warm", "Question warm?"), settings, progress=Progress(quiet=True),
             capabilities=default_capabilities())  # imports
    start = time.perf_counter()
    for q in questions:
        question = Question(q["id"], q["question"], "mc", ideal=q["ideal"], distractors=q["distractors"])
        ws = Workspace.create(home, q["id"], task_text(question, options(question, 0)))
        loop.run(ws, settings, progress=Progress(quiet=True), capabilities=default_capabilities())
        write_report(ws, settings)
    return time.perf_counter() - start


def main() -> None:
    from support.openai_server import ChatServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per model reply")
    args = parser.parse_args()
    questions = _questions(args.questions)
    workdir = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    n = len(questions)
    with ChatServer(responder=_responder(questions, args.latency)) as server:
        base = run_baseline(questions, server.url, workdir)
        print(f"baseline: research path in one process   {base:7.1f} s for {n} questions ({base / n:.2f} s each)")
        walls = {}
        for concurrency in (1, 4):
            wall, summary = run_eval(questions, concurrency, server.url, workdir)
            walls[concurrency] = wall
            acc = summary["multiple_choice"]["accuracy"]
            print(f"eval --concurrency {concurrency}                     {wall:7.1f} s for {n} questions "
                  f"({wall / n:.2f} s each; accuracy {acc}; median question wall {summary['wall_s']['median']:.2f} s)")
    print(f"harness overhead per question (concurrency 1, incl. the one-off fork-server start): "
          f"{(walls[1] - base) / n:.2f} s")
    print(f"speed-up at concurrency 4: {walls[1] / walls[4]:.2f}x  (model latency {args.latency:g} s per reply, "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
