"""Claims, the quote check, the reviewer's verdicts and the review-and-revise rounds (scripted models)."""

from __future__ import annotations

import json
from typing import get_type_hints

import pytest
from support.review_ws import papers_workspace, verdicts
from support.scripted import ScriptedModel, code

from agent_scientist.agent import loop
from agent_scientist.config import load_settings
from agent_scientist.papers.citation_index import index_for
from agent_scientist.papers.quotes import find_quote
from agent_scientist.records import ClaimVerdict, ReviewClaim, latest_review
from agent_scientist.report import render
from agent_scientist.review.claims import split_claims
from agent_scientist.review.revise import AnswerReview, ReviewCapability, check_answer
from agent_scientist.workspace import Workspace

ANSWER = ("Dropout lowers calibration error from 4.5% to 2.1% on CIFAR-10 [arXiv:2401.01234 p.2]. "
          "Dropout helps on ImageNet [arXiv:2401.01234 p.3]. "
          "Label smoothing reaches 76.4% top-1 [arXiv:2312.00001]. Our method is 3x faster.")


def _settings(home, **kw):
    return load_settings({"home": str(home), "model": "scripted/test", "review_rounds": 1, **kw})


def _answer(ws, text, step=1):
    ws.append_step({"type": "action", "step": step, "final_answer": text, "tokens_in": 10, "tokens_out": 5})


def _of(ws, kind):
    return [r for r in ws.steps() if r.get("type") == kind]


def _undeclared(ws, record):
    """Keys of the review's claims, their evidence and the recorded batches' verdicts that records.ReviewClaim
    and records.ClaimVerdict do not name (mypy sees the literal keys, not those spread in from disk)."""
    claim_keys, verdict_keys = set(get_type_hints(ReviewClaim)), set(get_type_hints(ClaimVerdict))
    found = {k for c in record["claims"] for k in c} - claim_keys
    found |= {k for c in record["claims"] for e in c["evidence"] for k in e} - verdict_keys
    return found | {k for batch in _of(ws, "claim_check") for v in batch["verdicts"] for k in v} - verdict_keys


# -- claims --------------------------------------------------------------------
def test_claims_are_sentences_with_their_citations_and_uncited_findings(home):
    ws = papers_workspace(home)
    index = index_for(ws)
    text = ("# Answer\n\nIn short, yes. Dropout helps (e.g. Fig. 2 of Smith et al.). [arXiv:2401.01234 p.2] "
            "It was also seen before [arXiv:2312.00001v1; arXiv:9999.99999].\n\n"
            "- ECE falls by 50% with dropout\n- A framing item\n\n"
            "| model | ECE |\n|---|---|\n| dropout | 2.1 [arXiv:2401.01234 p.2] |\n\n```\nx = 1. Worse than 2.\n```\n")
    claims = split_claims(text, index)
    assert [c.plain for c in claims] == [
        "Dropout helps (e.g. Fig. 2 of Smith et al.).", "It was also seen before.",
        "ECE falls by 50% with dropout", "dropout | 2.1"]
    assert [[x.raw for x in c.cites] for c in claims] == [
        ["arXiv:2401.01234 p.2"], ["arXiv:2312.00001v1", "arXiv:9999.99999"], [], ["arXiv:2401.01234 p.2"]]
    assert claims[0].cites[0].pages == (2, 2) and claims[0].cites[0].paper_id == "2401.01234v2"
    assert not claims[1].cites[1].verified  # a paper the workspace never held
    assert claims[2].uncited and not claims[0].uncited
    assert text[claims[0].start:claims[0].cite_end].endswith("[arXiv:2401.01234 p.2]")


# -- the quote check -----------------------------------------------------------
@pytest.mark.parametrize(("quote", "found"), [
    ("the expected calibration error falls from 4.5% to 2.1%", 2),  # hyphenated at a line end on the page
    ("The Expected  “calibration” error falls from 4.5 % to 2.1 %", 2),  # case, spaces, quote marks
    ("the expected ﬁ calibration", None),  # a ligature that is not there
    ("expected calibration error falls from 4.5% to 2.7%", None),  # an altered number
    ("error falls from 4.5% to 2.1% ... dropout rate of 0.1", 2),  # an ellipsis skips text, in order
    ("dropout rate of 0.1 ... error falls from 4.5%", None),  # fragments out of order
    ("Dropout does not help on ImageNet", 3),
    ("stays at 3.9%. Label", None),
    ("help on", None),  # too short to prove anything
    ("calibration error falls from 4.5% to 2.1% with a dropout rate of 0 1", None),
])
def test_the_quote_check_normalises_but_keeps_words_and_numbers(quote, found):
    from support.review_ws import PAGES

    pages = list(enumerate(PAGES["2401.01234v2"], start=1))
    assert find_quote(quote, pages) == found


def test_a_ligature_and_boundaries():
    pages = [(1, "The ﬁnal accuracy was 0.86 on the held-out set.")]
    assert find_quote("the final accuracy was 0.86", pages) == 1
    assert find_quote("final accuracy was 86 on the", pages) is None  # 86 is not 0.86


# -- verdicts ------------------------------------------------------------------
def test_true_quotes_are_supported_and_quotes_not_on_the_cited_page_are_not(home):
    ws = papers_workspace(home)
    _answer(ws, ANSWER)
    worker = ScriptedModel([verdicts(
        ("supported", "the expected calibration error falls from 4.5% to 2.1%"),
        ("supported", "On CIFAR-10 the expected calibration error falls"),  # true, but on p.2, not the cited p.3
        ("supported", "Label smoothing improves top-1 accuracy to 76.4% on ImageNet"),  # whole paper
    )], model_id="scripted/reviewer", tokens_in=300, tokens_out=40)
    before = ws.meta["tokens_in"]
    record = check_answer(ws, _settings(home), worker)
    assert [c["verdict"] for c in record["claims"]] == ["supported", "unverified", "supported", "uncited"]
    assert record["claims"][1]["why"] == "the quote is not on 2401.01234v2 p.3"
    assert record["claims"][2]["pages"] == [1, 1]  # a whole-paper citation: the page where the quote is
    assert record["counts"] == {"supported": 2, "unverified": 1, "uncited": 1}
    assert len(worker.calls) == 1  # three pairs, one batch
    assert "ITEM 3" in worker.calls[0] and "Dropout helps on ImageNet" in worker.calls[0]
    batch = _of(ws, "claim_check")
    assert len(batch) == 1 and batch[0]["worker_tokens_in"] >= 300 and batch[0]["reviewer"] == "scripted/reviewer"
    assert Workspace.open(home, "w").meta["tokens_in"] == before + batch[0]["worker_tokens_in"]
    assert _undeclared(ws, record) == set()


def test_an_invented_quote_never_gives_supported_and_unsupported_needs_none(home):
    ws = papers_workspace(home)
    _answer(ws, "Dropout helps on ImageNet [arXiv:2401.01234 p.3]. It also helps on MNIST [arXiv:2401.01234 p.1].")
    worker = ScriptedModel([verdicts(("supported", "Dropout clearly helps on ImageNet by 3.9 points"),
                                     ("unsupported", ""))])
    record = check_answer(ws, _settings(home), worker)
    assert [c["verdict"] for c in record["claims"]] == ["unverified", "unsupported"]
    assert record["claims"][0]["evidence"][0]["model_verdict"] == "supported"


@pytest.mark.parametrize("reply", ["", "Looks fine to me.", '{"verdicts": "all good"}', "[1, 2]",
                                   '{"verdicts": [{"item": 1, "verdict": "true", "quote": "Discussion. Dropout does not help"}]}'])
def test_junk_reviewer_output_gives_unverified(home, reply):
    ws = papers_workspace(home)
    _answer(ws, "Dropout does not help on ImageNet [arXiv:2401.01234 p.3].")
    record = check_answer(ws, _settings(home), ScriptedModel([reply]))
    assert [c["verdict"] for c in record["claims"]] == ["unverified"]


def test_a_failing_reviewer_gives_unverified_and_never_raises(home):
    ws = papers_workspace(home)
    _answer(ws, "Dropout does not help on ImageNet [arXiv:2401.01234 p.3].")

    def boom(messages):
        raise TimeoutError("the reviewer timed out")

    record = check_answer(ws, _settings(home), ScriptedModel([boom]))
    assert record["claims"][0]["verdict"] == "unverified"
    assert "timed out" in record["claims"][0]["why"]


def test_claims_are_batched_and_a_check_continues_from_its_recorded_batches(home):
    ws = papers_workspace(home)
    sentences = [f"Claim {n} holds on ImageNet [arXiv:2401.01234 p.3]." for n in range(1, 7)]
    _answer(ws, " ".join(sentences))
    quote = ("supported", "Dropout does not help on ImageNet")
    first = ScriptedModel([verdicts(*[quote] * 4)])
    with pytest.raises(_Killed):  # the process dies during the second batch, after the first was recorded
        check_answer(ws, _settings(home), first, ask=_dies_on_second_call())
    assert len(_of(ws, "claim_check")) == 1
    second = ScriptedModel([verdicts(*[quote] * 2)])
    record = check_answer(ws, _settings(home), second)
    assert len(second.calls) == 1 and "ITEM 3" not in second.calls[0]  # only the 2 claims left
    assert [c["verdict"] for c in record["claims"]] == ["supported"] * 6
    assert _undeclared(ws, record) == set()  # the verdicts read back from the first batch included


def _dies_on_second_call():
    from agent_scientist.agent.models import ask_model

    calls = []

    def ask(model, system, user, max_tokens):
        calls.append(1)
        if len(calls) == 2:
            raise _Killed
        return ask_model(model, system, user, max_tokens)

    return ask


class _Killed(BaseException):
    pass


# -- the review-and-revise rounds ----------------------------------------------
def _run(ws, home, planner, worker, **kw):
    return loop.run(ws, _settings(home, **kw), model=planner, worker_model=worker, capabilities=[ReviewCapability()])


def test_the_planner_gets_a_review_naming_bad_claims_and_the_revision_is_checked_again(home):
    ws = papers_workspace(home)
    bad = "Dropout helps on ImageNet [arXiv:2401.01234 p.2]. Our method is 3x faster."
    good = "Dropout does not help on ImageNet [arXiv:2401.01234 p.3]."
    planner = ScriptedModel([code(f"final_answer({bad!r})"), code(f"final_answer({good!r})")])
    worker = ScriptedModel([verdicts(("unsupported", "")), verdicts(("supported", "Dropout does not help on ImageNet"))],
                           model_id="scripted/reviewer")
    outcome = _run(ws, home, planner, worker)
    assert (outcome.status, outcome.final_answer) == ("completed", good)
    review_prompt = planner.calls[1]
    assert "Review of your answer" in review_prompt
    assert "Claim 1 (unsupported, 2401.01234v2 p.2)" in review_prompt and "Claim 2 (uncited)" in review_prompt
    reviews = _of(ws, "review")
    assert [r["revise"] for r in reviews] == [True, False] and [r["round"] for r in reviews] == [1, 2]
    assert reviews[1]["counts"] == {"supported": 1}
    meta = Workspace.open(home, "w").meta
    assert meta["status"] == "completed" and meta["steps"] == 2
    assert meta["tokens_in"] == sum(int(r.get("tokens_in") or 0) + int(r.get("worker_tokens_in") or 0)
                                    for r in ws.steps())
    assert any(r.get("worker_tokens_in") for r in _of(ws, "claim_check"))
    report = render(ws, None).text
    assert "- **Claims:** 1 checked: 1 supported" in report and "[✓](#claim-1)" in report


def test_rounds_are_bounded_and_zero_turns_the_review_off(home):
    ws = papers_workspace(home)
    bad = "Our method is 3x faster."
    planner = ScriptedModel([code(f"final_answer({bad!r})")] * 3)
    outcome = _run(ws, home, planner, ScriptedModel([]))
    assert outcome.status == "completed" and len(planner.calls) == 2  # one revision, then the answer stands
    assert [r["revise"] for r in _of(ws, "review")] == [True, False]

    other = papers_workspace(home, "off")
    planner = ScriptedModel([code(f"final_answer({bad!r})")] * 2)
    outcome = _run(other, home, planner, ScriptedModel([]), review_rounds=0)
    assert outcome.status == "completed" and len(planner.calls) == 1 and not _of(other, "review")


def test_junk_from_the_reviewer_never_fails_the_run(home):
    ws = papers_workspace(home)
    answer = "Dropout does not help on ImageNet [arXiv:2401.01234 p.3]."
    planner = ScriptedModel([code(f"final_answer({answer!r})")] * 2)
    outcome = _run(ws, home, planner, ScriptedModel(["", "```json\nnot json"]))
    assert outcome.status == "completed"
    assert [r["counts"] for r in _of(ws, "review")] == [{"unverified": 1}, {"unverified": 1}]


def test_a_review_left_unbegun_is_given_on_resume(home):
    ws = papers_workspace(home)
    bad = "Our method is 3x faster."
    good = "Dropout does not help on ImageNet [arXiv:2401.01234 p.3]."
    planner = ScriptedModel([code(f"final_answer({bad!r})")])
    outcome = _run(ws, home, planner, ScriptedModel([]), max_steps=1)  # no step left for the revision
    assert outcome.status == "completed" and _of(ws, "review")[0]["revise"]
    review = AnswerReview(Workspace.open(home, "w"), _settings(home), ScriptedModel([]))
    assert review.pending()
    second = ScriptedModel([code(f"final_answer({good!r})")])
    worker = ScriptedModel([verdicts(("supported", "Dropout does not help on ImageNet"))])
    outcome = _run(Workspace.open(home, "w"), home, second, worker)
    assert outcome.final_answer == good
    assert "Review of your answer" in second.calls[0] and "Claim 1 (uncited)" in second.calls[0]
    assert latest_review(ws.steps())["counts"] == {"supported": 1}


# -- the report ----------------------------------------------------------------
def test_the_report_shows_markers_counts_evidence_json_and_strict(home):
    ws = papers_workspace(home)
    _answer(ws, ANSWER)
    worker = ScriptedModel([verdicts(
        ("supported", "the expected calibration error falls from 4.5% to 2.1%"),
        ("contradicted", "Dropout does not help on ImageNet"),
        ("partial", "Label smoothing improves top-1 accuracy to 76.4%"),
    )], model_id="scripted/reviewer")
    ws.append_step(check_answer(ws, _settings(home), worker))
    text = render(ws, None).text
    assert "- **Claims:** 3 checked: 1 supported, 1 partial, 1 contradicted; 1 uncited" in text
    assert "[1, p.2](#ref-1)] [✓](#claim-1)" in text and "[✗](#claim-2)" in text and "[~](#claim-3)" in text
    assert "faster. [?](#claim-4)" in text
    assert '<a id="claim-1"></a>✓ **c1 supported**' in text
    assert "“the expected calibration error falls from 4.5% to 2.1%” [1, p.2](#ref-1)" in text
    assert "*no citation*" in text
    doc = json.loads(render(ws, None, "json").text)
    assert [(c["verdict"], c["paper_id"], c["pages"]) for c in doc["claims"]] == [
        ("supported", "2401.01234v2", [2, 2]), ("contradicted", "2401.01234v2", [3, 3]),
        ("partial", "2312.00001v1", [1, 1]), ("uncited", None, None)]
    assert doc["claims"][0]["reviewer"] == "scripted/reviewer" and doc["claims"][0]["citations"] == ["arXiv:2401.01234 p.2"]
    strict = render(ws, None, strict=True).text
    assert "[claim removed: c2](#claim-2)" in strict and "Dropout helps on ImageNet" not in strict.split("## Evidence")[0]
    assert "[claim removed: c4](#claim-4)" in strict and "Label smoothing reaches" in strict
    # A new answer has no review yet: no markers, no Evidence section.
    _answer(ws, "A new answer.", step=2)
    assert "## Evidence" not in render(ws, None).text


def test_a_failing_memory_for_passages_is_logged_once_and_the_words_rank(home, caplog):
    from agent_scientist.memory import open_memory
    from agent_scientist.review.check import memory_passages

    ws = Workspace.create(home, "w", "Q?")
    broken = _settings(home, embedding_model="no-such-provider/no-such-model")
    open_memory(ws, broken)  # the store exists; its embedding model cannot embed
    search = memory_passages(ws, broken)
    assert search is not None
    assert search("sparse widgets", "2401.00001v1") == [] and search("more", "2401.00001v1") == []
    logged = [r for r in caplog.records if "memory passages of w unavailable" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info and "no-such-provider" in logged[0].getMessage()
