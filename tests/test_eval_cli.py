"""`agent-scientist eval` end to end: real worker processes against a loopback chat server.

The planner is answered by content (which question it is working on), so runs in parallel get the
replies meant for them; the worker model's answer mapping is answered the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import get_type_hints

from conftest import cli_env
from support import warm
from support.openai_server import ChatServer
from support.pdfs import make_paper
from support.scripted import code
from test_cli_run import _wait_for

from agent_scientist.evals.formats import INSUFFICIENT, LETTERS, Question, options, task_text
from agent_scientist.fsio import read_json, read_jsonl
from agent_scientist.records import EvalResult, EvalSummary
from agent_scientist.workspace import Workspace, _usage

MODEL = "openai/gpt-4o-mini"
WORKER = "openai/worker"


def _mc(qid: str, ideal: str = "right", sources: list[str] | None = None) -> dict:
    return {"id": qid, "question": f"Question {qid}: which is it?", "ideal": ideal,
            "distractors": ["wrong one", "wrong two"], **({"sources": sources} if sources else {})}


def _letter(q: dict, text: str, seed: int = 0) -> str:
    opts = options(Question(q["id"], q["question"], "mc", ideal=q["ideal"], distractors=q["distractors"]), seed)
    return LETTERS[opts.index(text)]


def _write(tmp_path: Path, questions: list[dict]) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in questions))
    return path


def _prompt(payload: dict) -> str:
    return "\n".join(m["content"] for m in payload["messages"])


def _which(payload: dict, questions: list[dict]) -> dict | None:
    text = _prompt(payload)
    for q in questions:
        if f"Question {q['id']}:" in text:
            return q
    return None


def _eval_args(path: Path, server: ChatServer, *extra: str) -> list[str]:
    return ["eval", str(path), "--model", MODEL, "--worker-model", WORKER, "--api-base", server.url,
            "--quiet", *extra]


def _spawn(home: Path, *args: str) -> subprocess.Popen:
    return warm.Popen([sys.executable, "-m", "agent_scientist", *args], env=cli_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=home.parent)


def _results(home: Path, name: str = "set") -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl(home / "evals" / name / "results.jsonl")}


def test_accuracy_precision_coverage_by_hand_and_the_option_order(home, cli, tmp_path):
    qs = [_mc("right"), _mc("wrong"), _mc("insufficient"), _mc("unreadable"), _mc("mapped")]
    replies = {
        "right": lambda q: f"It is right.\n\nAnswer: ({_letter(q, 'right')})",
        "wrong": lambda q: f"Answer: ({_letter(q, 'wrong one')})",
        "insufficient": lambda q: f"The papers do not say.\n({_letter(q, INSUFFICIENT)})",
        "unreadable": lambda q: "I could not decide.",
        "mapped": lambda q: "The right one, clearly.",
    }

    def responder(payload):
        if payload["model"] == "worker":
            text = _prompt(payload)
            if "Reply with the option's letter" not in text:
                return None  # the memory's own work
            q = next(q for q in qs if q["id"] == "mapped")
            return _letter(q, "right") if "The right one, clearly." in text else "NONE"
        q = _which(payload, qs)
        return code(f"final_answer({replies[q['id']](q)!r})") if q else None

    path = _write(tmp_path, qs)
    with ChatServer(responder=responder) as server:
        result = cli(*_eval_args(path, server, "--concurrency", "2", "--json"), timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["multiple_choice"] == {"questions": 5, "correct": 2, "answered": 3, "accuracy": 0.4,
                                          "precision": 0.6667, "coverage": 0.6, "mapped_by_model": 2,
                                          "unreadable": 1}
    assert not summary["partial"] and summary["status"]["completed"] == 5 and summary["seed"] == 0
    assert summary["models"] == {"planner": MODEL, "worker": WORKER, "judge": None}
    assert len(summary["questions_sha256"]) == 64 and summary["version"]
    assert set(summary) <= set(get_type_hints(EvalSummary)), "a summary key records.EvalSummary does not name"
    assert summary["eval_wall_s"] > 0 and set(summary["wall_s"]) == {"total", "median", "p90"}
    results = _results(home)
    assert all(set(r) <= set(get_type_hints(EvalResult)) for r in results.values()), "not in records.EvalResult"
    assert [r["id"] for r in read_jsonl(home / "evals" / "set" / "results.jsonl")] == [q["id"] for q in qs]
    assert (results["mapped"]["choice_by"], results["mapped"]["correct"]) == ("model", True)
    assert (results["unreadable"]["choice_by"], results["unreadable"]["chosen"]) == ("model", None)
    assert results["right"]["choice_by"] == "read" and results["right"]["scoring_tokens_in"] == 0
    assert results["mapped"]["scoring_tokens_in"] > 0
    assert all(r["steps"] == 1 and r["wall_s"] > 0 and r["tokens_in"] > 0 for r in results.values())
    assert (home / "evals" / "set" / "summary.md").read_text().count("| accuracy | 40.0% |") == 1
    # each workspace got its options in the order computed here, one per line
    for q in qs:
        ws = Workspace.open(home, f"evals/set/{q['id']}")
        opts = options(Question(q["id"], q["question"], "mc", ideal=q["ideal"], distractors=q["distractors"]), 0)
        assert ws.question == task_text(Question(q["id"], q["question"], "mc"), opts)
        assert (ws.root / "report.md").exists()
    orders = {tuple(r["options"]) for r in results.values()}
    assert len(orders) > 1
    # list, show and export work on these workspaces as on any other
    listed = {w["name"]: w["status"] for w in json.loads(cli("list", "--json").stdout)}
    assert listed == {f"evals/set/{q['id']}": "completed" for q in qs}
    shown = cli("show", "evals/set/right")
    assert shown.returncode == 0 and "final answer" in shown.stdout
    exported = cli("export", "evals/set/right", "--format", "json")
    assert exported.returncode == 0 and json.loads(exported.stdout)
    # a rerun finds everything finished: no planner call, the same figures
    with ChatServer(default=code('final_answer("must not run")')) as server:
        again = cli(*_eval_args(path, server, "--json"), timeout=300)
        assert server.requests == []
    assert again.returncode == 0 and json.loads(again.stdout)["multiple_choice"] == summary["multiple_choice"]
    # another seed under the same name would mix orders: refused, nothing changed
    refused = cli(*_eval_args(path, server, "--seed", "7"))
    assert refused.returncode == 2 and "seed" in refused.stderr


def test_kill_mid_eval_then_rerun_finishes_only_what_was_missing(home, tmp_path):
    qs = [_mc("q1"), _mc("q2"), _mc("q3"), _mc("q4")]
    hold = threading.Event()
    held = threading.Event()
    planner_calls: list[str] = []

    def responder(payload):
        q = _which(payload, qs)
        if payload["model"] == "worker" or q is None:
            return None
        planner_calls.append(q["id"])
        if q["id"] == "q3" and not hold.is_set():
            if planner_calls.count("q3") == 1:
                return code("print('reading q3')")
            held.set()
            hold.wait(120)
        return code(f"final_answer('Answer: ({_letter(q, 'right')})')")

    path = _write(tmp_path, qs)
    with ChatServer(responder=responder) as server:
        proc = _spawn(home, *_eval_args(path, server, "--concurrency", "1"))
        _wait_for(held.is_set, timeout=120)  # q1 and q2 done, q3's second step in flight
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        q3 = Workspace.open(home, "evals/set/q3")
        _wait_for(lambda: not q3.is_locked(), timeout=120)  # its worker saw the parent die and saved its state
        hold.set()
        assert Workspace.open(home, "evals/set/q3").live_status == "interrupted"
        done_before = {qid: r["finished_at"] for qid, r in _results(home).items()}
        assert set(done_before) == {"q1", "q2"}
        assert not (home / "evals" / "set" / "q4").exists() or Workspace.open(home, "evals/set/q4").status == "created"
        planner_calls.clear()
        rerun = warm.run([sys.executable, "-m", "agent_scientist", *_eval_args(path, server, "--json")],
                               env=cli_env(home), capture_output=True, text=True, timeout=600, cwd=home.parent)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(set(planner_calls)) == ["q3", "q4"]
    results = _results(home)
    assert {qid: results[qid]["finished_at"] for qid in ("q1", "q2")} == done_before
    assert all(r["correct"] for r in results.values()) and len(results) == 4
    steps = Workspace.open(home, "evals/set/q3").steps()
    assert [r["resumed"] for r in steps if r["type"] == "run_start"] == [False, True]
    assert [r["step"] for r in steps if r["type"] == "action"] == [1, 2]  # the step in flight was lost, redone
    assert results["q3"]["steps"] == 2
    summary = json.loads(rerun.stdout)
    assert summary["multiple_choice"]["accuracy"] == 1.0 and not summary["partial"]


def test_concurrency_4_runs_4_at_once_and_each_workspace_stays_consistent(home, cli, tmp_path):
    qs = [_mc(f"c{i}") for i in range(5)]
    barrier = threading.Barrier(4, timeout=180)
    arrivals: list[str] = []
    lock = threading.Lock()

    def responder(payload):
        q = _which(payload, qs)
        if payload["model"] == "worker" or q is None:
            return None
        with lock:
            first = q["id"] not in arrivals
            arrivals.append(q["id"])
            index = len(set(arrivals))
        if first and index <= 4:
            barrier.wait()  # passes only if four questions are in flight at the same time
            return code("print('working')")
        if first:
            return code("print('working')")
        return code(f"final_answer('Answer: ({_letter(q, 'right')})')")

    path = _write(tmp_path, qs)
    with ChatServer(responder=responder) as server:
        result = cli(*_eval_args(path, server, "--concurrency", "4", "--json"), timeout=600)
    assert result.returncode == 0, result.stderr
    assert not barrier.broken
    spans = []
    for q in qs:
        ws = Workspace.open(home, f"evals/set/{q['id']}")
        steps = ws.steps()
        actions = [r for r in steps if r["type"] == "action"]
        spans.append((min(r["start_ts"] for r in actions), max(r["end_ts"] for r in actions)))
        usage = _usage(steps)
        assert ws.status == "completed" and not ws.is_locked()
        assert [r["step"] for r in actions] == [1, 2]
        assert (ws.meta["steps"], ws.meta["tokens_in"]) == (usage["steps"], usage["tokens_in"])
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert overlap == 4  # four at once, never five
    assert json.loads(result.stdout)["multiple_choice"]["correct"] == 5


def test_ctrl_c_stops_every_run_and_writes_a_partial_summary(home, tmp_path):
    qs = [_mc("fast"), _mc("slow1"), _mc("slow2")]
    hold = threading.Event()
    held: list[str] = []

    def responder(payload):
        q = _which(payload, qs)
        if payload["model"] == "worker" or q is None:
            return None
        if q["id"] != "fast" and not hold.is_set():
            held.append(q["id"])
            hold.wait(120)
            return 500
        return code(f"final_answer('Answer: ({_letter(q, 'right')})')")

    path = _write(tmp_path, qs)
    with ChatServer(responder=responder) as server:
        proc = _spawn(home, *_eval_args(path, server, "--concurrency", "2"))
        _wait_for(lambda: sorted(held) == ["slow1", "slow2"], timeout=120)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        hold.set()
    assert proc.returncode == 130, err
    summary = read_json(home / "evals" / "set" / "summary.json")
    assert (summary["partial"], summary["stop_reason"], summary["questions_scored"]) == (True, "interrupted", 1)
    assert sorted(summary["unfinished"]) == ["slow1", "slow2"]
    assert summary["multiple_choice"]["accuracy"] == 1.0
    for qid in ("slow1", "slow2"):
        ws = Workspace.open(home, f"evals/set/{qid}")
        assert (ws.status, ws.meta["stop_reason"]) == ("interrupted", "interrupted") and not ws.is_locked()
    assert "Run the same command to finish" in out


def test_closed_corpus_sources_and_citation_validity(home, cli, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    pdf = make_paper()
    (corpus / "widgets.pdf").write_bytes(pdf)
    local = "local:" + hashlib.sha256(pdf).hexdigest()[:8]
    qs = [{"id": "p3", "question": "Question p3: which word ends the left lines of page 3?", "ideal": "lantern",
           "distractors": ["zebra", "quasar"], "sources": ["widgets.pdf"]},
          {"id": "claim", "question": "Question claim: what is claimed?", "answer": "Sparse widgets help.",
           "sources": ["widgets.pdf", "arXiv:2401.00001"]}]

    def responder(payload):
        q = _which(payload, qs)
        if payload["model"] == "worker" or q is None:
            return None
        if q["id"] == "p3":
            letter = _letter(q, "lantern")
            return code(f"page = read_paper('{local}', page=3)\n"  # read: its text reached the planner
                        f"final_answer('Lantern [{local} p.3].\\n\\nAnswer: ({letter})')")
        return code(f"final_answer('Sparse widgets help [{local} p.1] [arXiv:2401.99999] [{local} p.99].')")

    path = _write(tmp_path, qs)
    with ChatServer(responder=responder) as server:
        result = cli(*_eval_args(path, server, "--papers", str(corpus), "--name", "closed", "--judge-model",
                                 WORKER, "--json"), timeout=600)
    assert result.returncode == 0, result.stderr
    results = _results(home, "closed")
    for qid in ("p3", "claim"):
        ws = Workspace.open(home, f"evals/closed/{qid}")
        assert [p["id"] for p in ws.papers()] == [local]
        assert "do not search arXiv" in ws.question
    p3, claim = results["p3"], results["claim"]
    assert (p3["correct"], p3["source_read"], p3["source_cited"], p3["citation_validity"]) == (True, True, True, 1.0)
    assert (claim["citations"], claim["citations_verified"], claim["citation_validity"]) == (3, 1, 0.3333)
    # added with --papers and cited, but never read: available, not read
    assert claim["sources_available"] == ["widgets.pdf"] and claim["sources_read"] == []
    assert claim["sources_cited"] == ["widgets.pdf"] and p3["sources_available"] == ["widgets.pdf"]
    assert claim["judge_model"] == WORKER and claim["judge_correct"] is None  # "nothing to add" is no verdict
    summary = json.loads(result.stdout)
    assert summary["sources"]["recall"] == 1.0 and summary["citations"]["validity"] == 0.5
    assert summary["papers"] == str(corpus.resolve())
    # two evals side by side
    compared = cli("eval-compare", "closed", str(home / "evals" / "closed" / "summary.json"), "--json")
    assert compared.returncode == 0 and all(r["difference"] == "" for r in json.loads(compared.stdout))
    assert re.search(r"citation validity", cli("eval-compare", "closed", "closed").stdout)
    assert cli("eval-compare", "closed", "nope").returncode == 2
    # a rerun has nothing left to do, and `--compare` puts another eval beside it
    again = cli(*_eval_args(path, server, "--papers", str(corpus), "--name", "closed", "--judge-model", WORKER,
                            "--compare", str(home / "evals" / "closed")))
    assert again.returncode == 0 and "B - A" in again.stdout and "source recall" in again.stdout


def test_bad_input_exits_2_and_runs_nothing(home, cli, tmp_path):
    path = _write(tmp_path, [_mc("a"), _mc("b")])
    assert "AGENT_SCIENTIST_MODEL" in cli("eval", str(path)).stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_mc("a")) + "\n{oops\n")
    for args, message in ((["eval", str(bad)], "bad.jsonl:2: not valid JSON"),
                          (["eval", str(path), "--ids", "a,zzz"], "no question with id zzz"),
                          (["eval", str(path), "--name", "x/y"], "Invalid eval name"),
                          (["eval", str(path), "--concurrency", "0"], "at least 1"),
                          (["eval", str(path), "--papers", str(tmp_path / "none")], "not a folder"),
                          (["eval", str(tmp_path / "missing.jsonl")], "cannot read")):
        result = cli(*args, "--model", MODEL)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    assert not (home / "evals").exists()


def test_total_budget_stops_the_eval_resumably(home, cli, tmp_path):
    qs = [_mc("t1"), _mc("t2"), _mc("t3")]
    asked: list[str] = []

    def responder(payload):
        q = _which(payload, qs)
        if payload["model"] == "worker" or q is None:
            return None
        asked.append(q["id"])
        return code(f"final_answer('Answer: ({_letter(q, 'right')})')")

    path = _write(tmp_path, qs)
    one = tmp_path / "one"
    one.mkdir()
    with ChatServer(responder=responder) as server:
        probe = cli(*_eval_args(_write(one, [_mc("t0")]), server, "--name", "probe"), timeout=600)
        assert probe.returncode == 0, probe.stderr
        cap = 1.5 * float(_results(home, "probe")["t0"]["cost_usd"])  # between one question's cost and two's
        result = cli(*_eval_args(path, server, "--concurrency", "1", "--total-budget-usd", f"{cap:.8f}", "--json"),
                     timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["stop_reason"], summary["partial"]) == ("total_budget", True)
    assert 1 <= summary["questions_scored"] < 3 and "t3" not in asked and "t3" in summary["unfinished"]


def test_price_per_mtok_prices_an_unknown_model_in_an_eval_and_a_blind_budget_warns(home, cli, tmp_path):
    qs = [_mc("p1")]

    def responder(payload):
        q = _which(payload, qs)
        return None if payload["model"] == "worker" or q is None else code(
            f"final_answer('Answer: ({_letter(q, 'right')})')")

    path = _write(tmp_path, qs)
    args = ["eval", str(path), "--model", "openai/my-local-model", "--worker-model", WORKER, "--quiet",
            "--budget-usd", "1", "--json"]
    with ChatServer(responder=responder) as server:
        priced = cli(*args, "--api-base", server.url, "--name", "priced",
                     env=cli_env(home, AGENT_SCIENTIST_PRICE_PER_MTOK="2"), timeout=600)
        blind = cli(*args, "--api-base", server.url, "--name", "blind", timeout=600)
    assert priced.returncode == 0 and "no known price" not in priced.stderr, priced.stderr
    assert _results(home, "priced")["p1"]["cost_usd"] > 0  # the question's run priced its planner calls
    assert blind.returncode == 0, blind.stderr
    assert "openai/my-local-model has no known price" in blind.stderr and "--budget-usd 1 is not" in blind.stderr
    assert _results(home, "blind")["p1"]["cost_usd"] == 0
