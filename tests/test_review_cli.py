"""The review end to end through the CLI: a kill in the middle of a review then `resume`, `verify` on a
workspace written before reviews existed, and `export --strict`. Real processes, a loopback chat server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from conftest import cli_env, run_cli
from support import warm
from support.openai_server import ChatServer
from support.report_ws import full_workspace
from support.review_ws import add_text_paper, papers_workspace, verdicts
from support.scripted import code
from test_cli_run import MODEL, WORKER, _wait_for

from agent_scientist.fsio import atomic_write_json
from agent_scientist.papers.layout import paper_dir
from agent_scientist.workspace import Workspace

QUOTE = ("supported", "Dropout does not help on ImageNet")
REVIEW_ON = {"AGENT_SCIENTIST_REVIEW_ROUNDS": "1"}  # the default; the shared test environment turns it off


def _spawn(home, *args):
    return warm.Popen([sys.executable, "-m", "agent_scientist", *args], env=cli_env(home, **REVIEW_ON),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=home.parent)


def _cli(home, *args):
    return run_cli(home, *args, env=cli_env(home, **REVIEW_ON))


def _reviewer_requests(server):
    return [r for r in server.requests if r.get("model") == "worker" and "ITEM 1" in r["messages"][-1]["content"]]


def test_a_kill_during_the_review_then_resume_finishes_it(home):
    papers_workspace(home)
    answer = " ".join(f"Finding {n} is that dropout does not help on ImageNet [arXiv:2401.01234 p.3]."
                      for n in range(1, 7))
    hold = threading.Event()
    with ChatServer([code(f"final_answer({answer!r})")], worker_script=[verdicts(*[QUOTE] * 4), hold]) as server:
        proc = _spawn(home, "research", "Does dropout improve calibration?", "--name", "w", "--model", MODEL, "--worker-model",
                      WORKER, "--api-base", server.url, "--quiet")
        _wait_for(lambda: server.held == 1)  # the second batch of claims is in flight
        proc.kill()
        proc.communicate(timeout=30)
        hold.set()
    ws = Workspace.open(home, "w")
    assert [r["type"] for r in ws.steps()].count("claim_check") == 1 and not any(
        r["type"] == "review" for r in ws.steps())

    with ChatServer([], worker_script=[verdicts(*[QUOTE] * 2)]) as server:
        result = _cli(home, "resume", "w", "--model", MODEL, "--worker-model", WORKER, "--api-base", server.url, "--quiet")
        planner_calls = [r for r in server.requests if r.get("model") != "worker"]
        reviews = _reviewer_requests(server)
    assert result.returncode == 0, result.stderr
    assert planner_calls == []  # the answer stood: nothing for the planner to do
    assert len(reviews) == 1 and "ITEM 3" not in reviews[0]["messages"][-1]["content"]  # only the 2 left
    assert "checking claims" in result.stdout
    ws = Workspace.open(home, "w")
    assert ws.meta["status"] == "completed"
    report = ws.report_path.read_text()
    assert "- **Claims:** 6 checked: 6 supported" in report and report.count("[✓](#claim-") == 6


def _old_workspace(home):
    """A workspace as the first landing wrote it (no reviews), with text for one cited paper."""
    ws = full_workspace(home)
    pages = [f"Page {n} of the dropout paper." for n in range(1, 13)]
    pages[2] = "Dropout improves calibration on small datasets, by two points of ECE."
    atomic_write_json(paper_dir(ws, "2401.01234v2") / "pages.json", {"pages": pages, "outline": [], "captions": []})
    return ws


def test_verify_checks_an_old_workspace_and_export_strict_leaves_out_the_rest(home, cli):
    _old_workspace(home)
    reply = verdicts(("supported", "Dropout improves calibration on small datasets"))
    with ChatServer([], worker_script=[reply], worker_default=verdicts(("unsupported", ""))) as server:
        result = cli("verify", "full", "--json", "--worker-model", WORKER, "--api-base", server.url)
        assert all(r.get("model") == "worker" for r in server.requests)
    assert result.returncode == 0, result.stderr
    claims = json.loads(result.stdout)
    assert claims[0]["verdict"] == "supported" and claims[0]["paper_id"] == "2401.01234v2"
    assert claims[0]["pages"] == [3, 3] and claims[0]["reviewer"] == WORKER
    assert set(claims[0]) >= {"text", "citations", "verdict", "quote", "paper_id", "pages", "reviewer"}
    assert all(c["verdict"] != "supported" for c in claims[1:])
    ws = Workspace.open(home, "full")
    report = ws.report_path.read_text()
    assert "**Claims:**" in report and "## Evidence" in report and "[✓](#claim-1)" in report
    assert ws.meta["tokens_in"] > 3 * 1000  # the old steps' tokens plus the reviewer's

    exported = json.loads(cli("export", "full", "--format", "json").stdout)
    assert [c["verdict"] for c in exported["claims"]] == [c["verdict"] for c in claims]
    strict = cli("export", "full", "--strict", "--output", "-").stdout
    answer = strict.split("## Evidence")[0]
    assert "Dropout improves calibration on small datasets" in answer
    assert "[claim removed: c2](#claim-2)" in answer and "This agrees with earlier work" not in answer

    summary = cli("verify", "full", "--worker-model", WORKER, "--api-base", "http://127.0.0.1:9/v1")
    assert summary.returncode == 0 and "checked" in summary.stdout  # an unreachable reviewer: unverified, no crash
    assert "supported" not in summary.stdout.split("\n")[0].split(":", 1)[1].replace("unsupported", "")


def test_verify_without_an_answer_says_so(home, cli):
    ws = papers_workspace(home)
    add_text_paper(ws, "2405.00001v1", ["Nothing yet."])
    result = cli("verify", "w", "--worker-model", WORKER)
    assert result.returncode == 2 and "no final answer" in result.stderr


def test_verify_on_the_first_landings_workspace(home, cli):
    import shutil
    from pathlib import Path

    shutil.copytree(Path(__file__).parent / "data" / "landing1", home / "landing1")
    reply = verdicts(("unsupported", ""),
                     ("partial", "We show that sparse widgets improve gadget accuracy across the benchmark suite"))
    with ChatServer([], worker_script=[reply]) as server:
        result = cli("verify", "landing1", "--json", "--worker-model", WORKER, "--api-base", server.url)
    assert result.returncode == 0, result.stderr
    claims = json.loads(result.stdout)
    assert [(c["verdict"], c["paper_id"], c["pages"]) for c in claims] == [("partial", "2401.00001v2", [1, 1])]
    assert claims[0]["citations"] == ["arXiv:2401.00001 p.2", "arXiv:2401.00001v2, p. 1-2"]
    report = Workspace.open(home, "landing1").report_path.read_text()
    assert "- **Claims:** 1 checked: 1 partial" in report and "[~](#claim-1)" in report
