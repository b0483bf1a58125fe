"""gather_evidence and hybrid retrieval: real chromadb, the bundled embedding model, a loopback
OpenAI-compatible worker that answers from the passages it is shown."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support.memory_box import memory_box
from support.openai_server import ChatServer
from support.review_ws import add_text_paper

from agent_scientist.agent.models import build_model
from agent_scientist.agent.registry import ToolContext, planner_tools
from agent_scientist.config import Settings
from agent_scientist.memory import open_memory
from agent_scientist.memory.evidence import BATCH, gather, question_items
from agent_scientist.papers.store import annotate, chunk_pages
from agent_scientist.workspace import Workspace

QUESTION = "Does dropout improve calibration?"
TOPICS = {
    "2401.00001v1": ("dropout lowers the expected calibration error", "supports"),
    "2401.00002v1": ("dropout raises the expected calibration error", "contradicts"),
    "2401.00003v1": ("weight decay changes the learning rate schedule", "neutral"),
}


def _pages(paper: str, topic: str) -> list[str]:
    pages = []
    for page in range(1, 11):
        paras = [f"In section {page}.{n} of paper {paper[-1]} we find that {topic} on benchmark {page * 10 + n}, "
                 f"measured over {n + 3} seeds with a mean of {page}.{n}5 points and a spread of 0.{n}2 points. "
                 + "The setting follows the standard protocol with the usual data splits and no extra tuning. " * 3
                 for n in range(1, 3)]
        pages.append("\n\n".join(paras))
    return pages


def _workspace(home: Path) -> Workspace:
    ws = Workspace.create(home, "ev", QUESTION)
    for paper, (topic, _) in TOPICS.items():
        add_text_paper(ws, paper, _pages(paper, topic))
    return ws


def _responder(invent: str = "") -> object:
    """A worker that judges each shown passage by its words: the first sentence as the quote (or an
    invented one for papers named in `invent`), the stance of the paper it comes from."""

    def answer(payload: dict) -> str | None:
        user = payload["messages"][-1]["content"]
        if "QUESTION:" not in user:
            return None
        items = []
        for n, label, text in re.findall(r"PASSAGE (\d+) \((\S+) [^)]*\):\n<<<\n(.*?)\n>>>", user, re.S):
            paper = label.split(":", 1)[1]
            topic, stance = TOPICS[paper]
            quote = text.split(". ")[0]
            if paper in invent:
                quote = "dropout cures every calibration problem in all networks"
            items.append({"item": int(n), "score": 8 if stance != "neutral" else 1, "summary": f"It says {topic}.",
                          "stance": stance, "quote": quote})
        return json.dumps(items)

    return answer


def _settings(home: Path, server: ChatServer, **kw: object) -> Settings:
    return Settings(home=home, model=str(kw.pop("model", "openai/worker")), api_base=server.url, model_retries=0,
                    model_timeout=30, **kw)  # type: ignore[arg-type]


def test_exact_dataset_name_found_by_hybrid_that_dense_misses(home: Path) -> None:
    ws = Workspace.create(home, "lex", "q")
    store = open_memory(ws, Settings(home=home))
    genes = ["TP53", "BRCA1", "MYC", "EGFR", "KRAS", "PTEN", "CDK4", "RB1", "SOX2", "ERBB2"]
    texts = [f"{genes[i % 10]} expression in tumour samples rose after treatment in cohort {i}." for i in range(40)]
    texts[17] = "The GSE41258 series was downloaded and normalised."  # a dataset's accession number
    store.add_passages("2401.00009v1", [{"text": t, "page_start": i + 1, "page_end": i + 1}
                                        for i, t in enumerate(texts)])
    query = "which results use dataset GSE41258 tumour expression"
    dense = store.nearest_passages(store.embed([query])[0], 1, "2401.00009v1")
    hybrid = store.search_passages(query, 1, paper_id="2401.00009v1")
    assert dense[0]["id"] != "2401.00009v1#17"  # the exact accession is lost on the dense side
    assert hybrid[0]["id"] == "2401.00009v1#17"
    assert store.recall(query, k=1)[0]["id"] == "2401.00009v1#17"


def test_lexical_index_is_incremental_and_repaired_after_a_crash(home: Path) -> None:
    ws = _workspace(home)
    settings = Settings(home=home)
    store = open_memory(ws, settings)
    first = "2401.00001v1"
    store.add_passages(first, chunk_pages(_pages(first, TOPICS[first][0])))
    db = store.lexical._db
    before = dict(db.execute("SELECT id, n FROM rows").fetchall())
    second = "2401.00002v1"
    store.add_passages(second, chunk_pages(_pages(second, TOPICS[second][0])))
    after = dict(db.execute("SELECT id, n FROM rows").fetchall())
    assert {i: after[i] for i in before} == before  # the first paper's rows were not rebuilt
    assert len(after) == int(store.passages.count())
    # A crash between the chromadb write and the lexical one: the lexical rows of the second paper are lost.
    store.lexical.delete([i for i in after if i.startswith(second)])
    store.lexical.close()
    reopened = open_memory(ws, settings)
    assert reopened.lexical.count("passage") == int(reopened.passages.count())
    hits = reopened.lexical.search("dropout raises the expected calibration error", 3, kind="passage")
    assert hits and hits[0][0].startswith(second)


def test_gather_checks_quotes_reports_disagreement_and_saves_items(home: Path) -> None:
    ws = _workspace(home)
    with ChatServer(responder=_responder(invent="2401.00002v1")) as server:
        settings = _settings(home, server)
        ctx = ToolContext(ws=ws, settings=settings, worker_model=build_model(settings, "worker"))
        run, box = memory_box(ctx)
        tool = next(t for t in planner_tools(box) if t.name == "gather_evidence")
        assert "call `gather_evidence(question)`" in " ".join(box.instructions)  # the planner is told to use it
        answer = tool(question=QUESTION, paper_ids="2401.00001, 2401.00003v1", k=4)
        assert "disagree" not in answer.split("\n")[0]  # the contradicting paper was not asked for
        assert "[arXiv:2401.00001v1 p." in answer and "score 8/10, supports" in answer
        calls = server.chat_calls
        again = tool(question="does DROPOUT improve   calibration?", paper_ids="2401.00001v1, 2401.00003v1", k=4)
        assert server.chat_calls == calls and "not paid again" in again  # same passages and question: cached
        annotate(ws, next(m for m in ws.papers() if m["id"] == "2401.00001v1"), {"doi": "10.5555/dropout.1"})
        by_alias = tool(question=QUESTION, paper_ids="doi:10.5555/dropout.1, 2401.00003v1", k=4)
        assert server.chat_calls == calls and "not paid again" in by_alias  # its DOI names the same paper

        full = tool(question=QUESTION, k=8)
    first = full.split("\n")[0]
    assert first.startswith("The evidence disagrees") is False or "contradicts" in first
    # Every quote of the contradicting paper was invented: all its items are dropped, so no disagreement.
    assert "arXiv:2401.00002v1" not in full
    assert re.search(r"[1-9]\d* dropped for a quote not found", full)
    kept = question_items(ws)[QUESTION]
    assert kept and all(i["paper_id"] != "2401.00002v1" for i in kept)
    stored = run.memory.recall("dropout lowers calibration error", k=5, kind="evidence")
    assert stored and stored[0]["kind"] == "evidence"
    note = run.memory.get_notes([stored[0]["id"]])[0]
    assert note["question"] == QUESTION and note["stance"] == "supports" and note["pages"]


def test_disagreement_named_first(home: Path) -> None:
    ws = _workspace(home)
    with ChatServer(responder=_responder()) as server:
        settings = _settings(home, server)
        found = gather(ws, settings, open_memory(ws, settings), build_model(settings, "worker"), QUESTION)
    from agent_scientist.memory.evidence import describe

    text = describe(found, 6)
    first = text.split("\n")[0]
    assert first.startswith("The evidence disagrees")
    assert "supports: arXiv:2401.00001v1" in first and "contradicts: arXiv:2401.00002v1" in first


def test_budget_stops_between_batches(home: Path) -> None:
    ws = _workspace(home)
    with ChatServer(responder=_responder()) as server:
        settings = _settings(home, server, model="openai/gpt-4o-mini", budget_usd=1e-9, evidence_concurrency=1)
        found = gather(ws, settings, open_memory(ws, settings), build_model(settings, "worker"), QUESTION)
        assert server.chat_calls == 1
    assert found.batches == 1 and "budget" in found.stopped and found.cost_usd > 0
    assert ws.meta["cost_usd"] > 0 and ws.meta["cost_usd"] == pytest.approx(found.cost_usd, abs=1e-6)  # metered into the workspace


@pytest.mark.parametrize("limit", [1, 3])
def test_concurrency_bound_is_honoured(home: Path, limit: int) -> None:
    ws = _workspace(home)
    with ChatServer(responder=_responder(), delay_s=0.4) as server:
        settings = _settings(home, server, evidence_concurrency=limit)
        found = gather(ws, settings, open_memory(ws, settings), build_model(settings, "worker"), QUESTION)
        assert found.batches >= 4
        assert server.max_in_flight == limit


def test_resume_after_sigkill_pays_no_batch_twice(home: Path, tmp_path: Path) -> None:
    ws = _workspace(home)
    with ChatServer(responder=_responder(), delay_s=0.7) as server:
        script = tmp_path / "gather.py"
        script.write_text(textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from agent_scientist.agent.models import build_model
            from agent_scientist.config import Settings
            from agent_scientist.memory import open_memory
            from agent_scientist.memory.evidence import gather
            from agent_scientist.workspace import Workspace
            ws = Workspace.open({str(home)!r}, "ev")
            s = Settings(home=ws.root.parent, model="openai/worker", api_base={server.url!r}, model_retries=0,
                         evidence_concurrency=1)
            gather(ws, s, open_memory(ws, s), build_model(s, "worker"), {QUESTION!r})
        """))
        proc = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        deadline = time.monotonic() + 120

        def recorded() -> int:
            return ws.steps_path.read_text().count('"type": "evidence"') if ws.steps_path.exists() else 0

        while recorded() < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "the gather ended before it was killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        paid_before = recorded()
        calls_before = server.chat_calls
        settings = _settings(home, server, evidence_concurrency=1)
        found = gather(Workspace.open(home, "ev"), settings, open_memory(ws, settings),
                       build_model(settings, "worker"), QUESTION)
        assert server.chat_calls - calls_before == found.batches
    assert found.cached >= paid_before * BATCH - BATCH and found.batches >= 1
    assert calls_before - paid_before <= 1  # only the call in flight at the kill went unrecorded
    records = [json.loads(line) for line in Workspace.open(home, "ev").steps_path.read_text().splitlines()]
    judged = [i["passage_id"] for r in records if r.get("type") == "evidence" for i in r["items"]]
    assert len(judged) == len(set(judged)) == found.read  # no passage judged (paid for) twice


def test_report_and_show_carry_evidence_cost_and_disagreement(home: Path, cli) -> None:
    from support.report_ws import add_step

    from agent_scientist.report import render

    ws = _workspace(home)
    with ChatServer(responder=_responder()) as server:
        settings = _settings(home, server, model="openai/gpt-4o-mini")
        found = gather(ws, settings, open_memory(ws, settings), build_model(settings, "worker"), QUESTION)
    add_step(ws, 1, final_answer="Dropout helps [arXiv:2401.00001v1 p.1] but not always [arXiv:2401.00002v1 p.1].")
    ws.update(status="completed")
    text = render(ws, []).text
    assert f"- **Of which evidence:** {found.tokens_in:,} in, {found.tokens_out:,} out" in text
    note = text.split("**Disagreement in the literature**", 1)[1].split("##", 1)[0]
    assert "supported by arXiv:2401.00001v1" in note and "contradicted by arXiv:2401.00002v1" in note
    shown = cli("show", "ev").stdout
    assert f"of which evidence (gather_evidence): tokens in {found.tokens_in} / out {found.tokens_out}" in shown


def test_reviewer_sees_evidence_first_and_doctor_names_planner_prices(home: Path) -> None:
    from agent_scientist.memory.capability import doctor_checks
    from agent_scientist.review.check import build_item
    from agent_scientist.review.claims import Claim

    ws = _workspace(home)
    with ChatServer(responder=_responder()) as server:
        settings = _settings(home, server)
        found = gather(ws, settings, open_memory(ws, settings), build_model(settings, "worker"), QUESTION)
    item = next(i for i in found.kept() if i["paper_id"] == "2401.00001v1")
    claim = Claim(number=1, text="Dropout helps.", plain="Dropout helps.", start=0, end=14)
    built = build_item(ws, settings, claim, "2401.00001v1", (item["page"], item["page"]))
    assert not isinstance(built, str)
    assert built.shown.startswith("EVIDENCE gathered earlier") and item["quote"] in built.shown
    assert any(c[0] == "evidence" and "planner prices" in c[2] for c in doctor_checks(Settings(model="openai/x")))
