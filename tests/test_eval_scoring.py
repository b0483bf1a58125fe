"""Eval question formats, option order, answer reading and the aggregate figures, computed by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent_scientist.config import load_settings
from agent_scientist.evals.formats import (
    INSUFFICIENT,
    Question,
    QuestionError,
    load_questions,
    options,
    read_choice,
    task_text,
    workspace_id,
)
from agent_scientist.evals.runner import EvalConfig, EvalRunner
from agent_scientist.evals.scoring import (
    choice_measures,
    claim_figures,
    claim_measures,
    paper_keys,
    papers_read,
    source_key,
    source_measures,
)
from agent_scientist.evals.summary import compare, p90, summarize, to_markdown
from agent_scientist.workspace import Workspace, WorkspaceError, list_names, validate_name

LITQA = {"id": "3a5a2b8c-0000-4000-8000-000000000001", "question": "Which gene?", "ideal": "BRCA1",
         "distractors": ["TP53", "EGFR", "KRAS"], "sources": ["https://doi.org/10.1101/2024.01.02.573210"],
         "key-passage": "BRCA1 was ..."}
SMOKE = Path(__file__).parent / "data" / "eval_smoke.jsonl"


def _write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_litqa2_and_open_lines_load(tmp_path):
    path = _write(tmp_path, json.dumps(LITQA), "", json.dumps({"id": "o1", "question": "Why?", "answer": "Because."}))
    mc, open_q = load_questions(path)
    assert (mc.kind, mc.ideal, mc.distractors, mc.key_passage) == ("mc", "BRCA1", ["TP53", "EGFR", "KRAS"], "BRCA1 was ...")
    assert (open_q.kind, open_q.answer, open_q.sources) == ("open", "Because.", [])
    assert len(load_questions(SMOKE)) == 5  # the shipped smoke set is valid


@pytest.mark.parametrize("lines, message", [
    (['{"id": "a", "question": "Q?"}', "{not json"], "q.jsonl:2: not valid JSON"),
    (['{"id": "a", "question": "Q?"}', '{"id": "a", "question": "R?"}'], "repeats line 1"),
    (['{"id": "a", "question": "Q?", "ideal": "x", "distractors": []}'], "at least one distractor"),
    (['{"question": "Q?"}'], "non-empty `id`"),
    (['{"id": "a", "question": "Q?", "ideal": "x", "distractors": "y", "sources": [1]}'], "list of strings"),
    ([""], "no questions"),
    (['{"id": {"n": 1}, "question": "Q?"}'], "q.jsonl:1: `id` must be a string, not dict"),
    (['{"id": "a", "question": ["Q?"]}'], "q.jsonl:1: `question` must be a string, not list"),
    (['{"id": "a", "question": "Q?", "ideal": true, "distractors": ["y"]}'], "`ideal` must be a string, not bool"),
    (['{"id": "a", "question": "Q?", "answer": {"text": "x"}}'], "`answer` must be a string"),
    (['{"id": "a", "question": "Q?", "key-passage": ["x"]}'], "`key-passage` must be a string"),
])
def test_bad_question_files_name_the_line(tmp_path, lines, message):
    with pytest.raises(QuestionError, match=message.replace("`", ".")):
        load_questions(_write(tmp_path, *lines))


def test_option_order_is_stable_differs_between_questions_and_seeds():
    qs = [Question(f"q{i}", "?", "mc", ideal="right", distractors=["w1", "w2", "w3"]) for i in range(12)]
    orders = [tuple(options(q, 0)) for q in qs]
    assert all(sorted(o) == sorted(["right", "w1", "w2", "w3", INSUFFICIENT]) for o in orders)
    assert len(set(orders)) > 4  # differs between questions
    assert [tuple(options(q, 0)) for q in qs] == orders  # stable in this process
    assert [tuple(options(q, 1)) for q in qs] != orders  # the seed matters
    code = ("from agent_scientist.evals.formats import Question, options\n"
            "print([options(Question(f'q{i}', '?', 'mc', ideal='right', distractors=['w1','w2','w3']), 0) "
            "for i in range(12)])")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(other) == [list(o) for o in orders]  # and in another process (no hash randomisation)


def test_task_lists_options_one_per_line_and_asks_for_the_answer_line():
    q = Question("q", "Which gene?", "mc", ideal="BRCA1", distractors=["TP53"])
    opts = options(q, 0)
    text = task_text(q, opts, closed_corpus=True)
    assert "\n".join(f"({'ABC'[i]}) {o}" for i, o in enumerate(opts)) in text
    assert "Answer: (X)" in text and "do not search arXiv" in text
    assert "Options" not in task_text(Question("o", "Why?", "open"), [])


@pytest.mark.parametrize("answer, expected", [
    ("It is BRCA1 [arXiv:2401.01234].\n\nAnswer: (B)", 1),
    ("**Answer: (c)**", 2),
    ("Answer: (A) at first... no.\nAnswer: (D)", 3),
    ("Reasoning here.\n(E)\n", 4),
    ("Answer: (F)", None),  # past the options
    ("The answer is B.", None),
    ("(A) was tempting but the rest says otherwise", None),
    ("", None),
    (None, None),
])
def test_read_choice(answer, expected):
    assert read_choice(answer, 5) == expected


def test_choice_measures_right_wrong_insufficient_unreadable_mapped():
    q = Question("q", "?", "mc", ideal="right", distractors=["wrong"])
    opts = ["wrong", INSUFFICIENT, "right"]
    assert choice_measures(q, opts, "Answer: (C)") | {} == {
        "ideal": "C", "chosen": "C", "chosen_text": "right", "choice_by": "read", "mapped_by_model": False,
        "answered": True, "correct": True}
    wrong = choice_measures(q, opts, "Answer: (A)")
    assert (wrong["answered"], wrong["correct"]) == (True, False)
    insufficient = choice_measures(q, opts, "Answer: (B)")
    assert (insufficient["answered"], insufficient["correct"]) == (False, False)
    calls = []
    unread = choice_measures(q, opts, "hmm", mapper=lambda a, o: calls.append(a))
    assert (unread["chosen"], unread["mapped_by_model"], unread["answered"], calls) == (None, True, False, ["hmm"])
    mapped = choice_measures(q, opts, "it is right", mapper=lambda a, o: 2)
    assert (mapped["chosen"], mapped["choice_by"], mapped["correct"]) == ("C", "model", True)
    assert choice_measures(q, opts, None, mapper=lambda a, o: 2)["choice_by"] == "none"  # no answer: no call


def test_source_keys_and_recall():
    assert source_key("https://doi.org/10.1101/2024.01.02.573210") == "doi:10.1101/2024.01.02.573210"
    assert source_key("doi:10.48550/arXiv.2401.01234") == "arxiv:2401.01234"
    assert source_key("https://arxiv.org/abs/2401.01234v3") == "arxiv:2401.01234"
    assert source_key("arXiv:hep-th/9901001") == "arxiv:hep-th/9901001"
    assert source_key("Widgets.PDF") == "file:widgets.pdf"
    papers = [{"id": "2401.01234v2"}, {"id": "local:ab12cd34", "original_path": "/x/widgets.pdf"},
              {"id": "2312.00001v1", "doi": "10.1000/xyz"}, {"id": "local:cd34ef56", "arxiv_id": "2405.00005v1"}]
    assert "arxiv:2405.00005" in paper_keys(papers[3])  # a local PDF that printed its arXiv id answers to it
    q = Question("q", "?", "open", sources=["arXiv:2401.01234", "widgets.pdf", "10.1000/XYZ", "10.9/none"])
    got = source_measures(q, papers, cited_ids={"local:ab12cd34"}, read={"arxiv:2401.01234", "doi:10.9/none"})
    assert got == {"sources_available": ["arXiv:2401.01234", "widgets.pdf", "10.1000/XYZ"],
                   "sources_read": ["arXiv:2401.01234"], "sources_cited": ["widgets.pdf"],
                   "source_available": True, "source_read": True, "source_cited": True}
    unread = source_measures(q, papers, cited_ids=set(), read=set())  # added but never read: not "read"
    assert (unread["source_available"], unread["source_read"], unread["sources_read"]) == (True, False, [])
    assert source_measures(Question("q", "?", "open"), papers, set())["source_read"] is None


def test_claim_support_from_a_review_record(tmp_path):
    review = {"type": "review", "claims": [{"verdict": "supported"}, {"verdict": "partial"},
                                           {"verdict": "supported"}]}
    assert claim_figures(review) == {"claims": 3, "claims_supported": 2, "claim_support": 0.6667}
    assert claim_figures(None) == claim_figures({"claims": []}) == {"claims": None, "claims_supported": None,
                                                                      "claim_support": None}
    ws = Workspace.create(tmp_path, "w")  # no answer, no review: no figure
    assert claim_measures(ws)["claim_support"] is None


def test_summary_figures_by_hand():
    def mc(correct, answered, **kw):
        return {"kind": "mc", "status": "completed", "correct": correct, "answered": answered, "chosen": "A",
                "steps": 2, "cost_usd": 0.01, "wall_s": 10.0, **kw}

    results = [mc(True, True, citations=4, citations_verified=3, source_available=True, source_read=True,
                  source_cited=True),
               mc(False, True, citations=1, citations_verified=1, source_available=True, source_read=True,
                  source_cited=False),
               mc(False, False, source_available=True, source_read=False, source_cited=False),
               mc(False, False, chosen=None, mapped_by_model=True, wall_s=30.0),
               {"kind": "open", "status": "failed", "error": "boom", "steps": 1, "cost_usd": 0.0, "wall_s": 1.0}]
    s = summarize(results, selected=6, meta={"name": "x"})
    assert s["multiple_choice"] == {"questions": 4, "correct": 1, "answered": 2, "accuracy": 0.25, "precision": 0.5,
                                    "coverage": 0.5, "mapped_by_model": 1, "unreadable": 1}
    assert s["sources"] == {"questions_with_sources": 3, "available": 3, "read": 2, "cited": 1,
                            "available_rate": 1.0, "read_rate": 0.6667, "recall": 0.3333}
    assert s["citations"] == {"answers_with_citations": 2, "citations": 5, "verified": 4, "validity": 0.8}
    assert s["partial"] and s["questions_scored"] == 5 and s["status"]["failed"] == 1
    assert s["wall_s"] == {"total": 61.0, "median": 10.0, "p90": 30.0}
    assert s["failures"] == [{"id": None, "error": "boom"}]
    assert "| accuracy | 25.0% |" in to_markdown(s) and "Partial" in to_markdown(s)
    assert p90(list(range(1, 11))) == 9 and p90([]) is None


def test_the_summary_keeps_the_eval_wall_time_apart_from_the_questions_spread(tmp_path):
    """The eval's own wall time used to be written as `wall_s` and then overwritten by the questions' spread."""
    settings = load_settings({"home": str(tmp_path), "model": "m"})
    runner = EvalRunner(settings, EvalConfig("e", tmp_path / "q.jsonl", "0" * 64), [Question("q1", "Q?", "open")])
    runner.items[0].result = {"id": "q1", "kind": "open", "status": "completed", "wall_s": 5.0}
    runner.started -= 100  # the eval began 100 s ago
    runner.dir.mkdir(parents=True)
    runner.write_summary()
    summary = json.loads((runner.dir / "summary.json").read_text())
    assert summary["wall_s"] == {"total": 5.0, "median": 5.0, "p90": 5.0}
    assert summary["eval_wall_s"] >= 100


def test_compare_shows_differences():
    base = summarize([{"kind": "mc", "correct": True, "answered": True, "chosen": "A", "status": "completed"}], 1,
                     {"name": "a", "models": {"planner": "m1"}, "seed": 0})
    other = summarize([{"kind": "mc", "correct": False, "answered": True, "chosen": "B", "status": "completed"}], 1,
                      {"name": "b", "models": {"planner": "m2"}, "seed": 0})
    rows = {r[0]: r for r in compare(base, other)}
    assert rows["accuracy"][1:] == ("100.0%", "0.0%", "-100.0 pts")
    assert rows["models.planner"][1:] == ("m1", "m2", "differs")
    assert "seed" not in rows


def test_nested_eval_workspace_names(tmp_path):
    assert validate_name("evals/litqa2/3a5a2b8c-0000-4000-8000-000000000001")
    for bad in ("evals", "a/b", "evals/x", "evals/../x", "evals/x/..", "x/evals/y", "evals/x/y/z"):
        with pytest.raises(WorkspaceError):
            validate_name(bad)
    ws = Workspace.create(tmp_path, "evals/e1/q1", "Q?")
    Workspace.create(tmp_path, "plain")
    assert ws.name == "evals/e1/q1" and Workspace.open(tmp_path, "evals/e1/q1").question == "Q?"
    assert list_names(tmp_path) == ["plain", "evals/e1/q1"]
    with pytest.raises(WorkspaceError):
        Workspace.open(tmp_path, "../outside")
    assert workspace_id("3a5a2b8c-0000") == "3a5a2b8c-0000"
    assert workspace_id("a b/c") != workspace_id("a b c") and "/" not in workspace_id("a b/c")
    assert workspace_id("summary.json").startswith("summary.json-")


def test_live_table_shows_done_running_correct_and_cost():
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from agent_scientist.evals.live import EvalView

    def item(qid, result=None, live=None):
        return SimpleNamespace(q=SimpleNamespace(id=qid), result=result, live=live or {})

    done = [item("q1", {"kind": "mc", "status": "completed", "correct": True, "chosen": "B", "answered": True,
                        "steps": 3, "cost_usd": 0.25}),
            item("q2", {"kind": "mc", "status": "completed", "correct": False, "chosen": "A", "answered": True,
                        "steps": 2, "cost_usd": 0.5})]
    running = [item("q3", live={"steps": 4, "cost_usd": 0.125})]
    runner = SimpleNamespace(items=[*done, *running, item("q4")], running=running,
                             cfg=SimpleNamespace(name="set"), cost_so_far=lambda: 0.875)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    view = EvalView(console, plain=False)
    view(runner)
    view.close()
    text = out.getvalue()
    assert "Eval set: 2/4 done · 1 running · correct 1/2 · cost $0.8750" in text
    assert "correct (B)" in text and "wrong (A)" in text and "running" in text
    plain = io.StringIO()
    EvalView(Console(file=plain, width=200), plain=True)(runner)
    assert plain.getvalue().splitlines() == ["[1/4] q1: correct (B) · 3 steps · $0.2500 · 0.0 s",
                                             "[2/4] q2: wrong (A) · 2 steps · $0.5000 · 0.0 s"]


def test_papers_read_are_what_read_paper_or_gather_evidence_returned(tmp_path):
    ws = Workspace.create(tmp_path, "w", "Q?")
    ws.append_step({"type": "action", "step": 1, "tool_calls": [
        {"tool": "read_paper", "args": {"paper_id": "arXiv:2401.01234v2", "page": 3}, "ok": True},
        {"tool": "read_paper", "args": {"paper_id": "2402.00002"}, "ok": False},  # raised: nothing was read
        {"tool": "search_papers", "args": {"query": "2403.00003"}, "ok": True}]})
    ws.append_step({"type": "evidence", "question": "q", "question_key": "k", "items": [
        {"passage_id": "local:ab12cd34#0", "paper_id": "local:ab12cd34", "score": 8, "quote": "x"},
        {"passage_id": "2404.00004#1", "paper_id": "2404.00004v1", "score": 9, "dropped": True}]})
    assert papers_read(ws) == {"arxiv:2401.01234", "local:ab12cd34"}
