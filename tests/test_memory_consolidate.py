"""Consolidation with a scripted worker model: add, merge, supersede, nothing, the guards and the fallback."""

from __future__ import annotations

import json
import logging
import re

import pytest
from support.memory_box import memory_box
from support.scripted import ScriptedModel

from agent_scientist.agent.registry import planner_tools
from agent_scientist.contracts import ToolContext
from agent_scientist.memory import read_notes
from agent_scientist.memory.consolidate import differs
from agent_scientist.workspace import Workspace

ORIGINAL = "Label smoothing improves calibration of image classifiers."
RELATED = "Label smoothing improves calibration of image segmentation models."


def decide(action: str, text: str = ""):
    """A scripted consolidation reply naming the first stored note shown in the prompt."""
    def reply(messages) -> str:
        prompt = "\n".join(str(m.content) for m in messages)
        target = re.findall(r"\[(n-[0-9a-f]{10})\]", prompt)[0]
        return "Here you go:\n```json\n" + json.dumps({"action": action, "target": target, "text": text}) + "\n```"
    return reply


def setup(settings, replies):
    worker = ScriptedModel(replies)
    ws = Workspace.create(settings.home, "c")
    ctx = ToolContext(ws=ws, settings=settings, worker_model=worker)
    ctx, box = memory_box(ctx)
    remember = {t.name: t for t in planner_tools(box)}["remember"]
    return ctx, worker, remember


def notes(ctx, status="active"):
    return read_notes(ctx.ws, ctx.settings, status=status)


def test_differs_spots_numbers_dates_and_qualifiers():
    assert differs("Accuracy is 76.4%.", "Accuracy is 76.1%.").startswith("numbers differ")
    assert differs("Accuracy is 76.40%.", "accuracy is 76.4 %") == ""
    assert differs("Released in March 2023.", "Released in May 2023.").startswith("dates differ")
    assert differs("Mixup does not improve calibration.", "Mixup improves calibration.").startswith("qualifiers")
    assert differs("It only works on CIFAR-10.", "It works on CIFAR-10.").startswith("qualifiers")
    assert differs("Adam converges fast.", "Adam converges fast!") == ""


def test_model_says_add(settings):
    ctx, worker, remember = setup(settings, [decide("add")])
    remember(ORIGINAL, source="arXiv:1")
    assert remember(RELATED, source="arXiv:2").startswith("Saved note")
    assert len(worker.calls) == 1 and "NEW (finding, source arXiv:2)" in worker.calls[0]
    assert len(notes(ctx)) == 2


def test_model_says_merge_keeps_both_sources_and_the_merged_text(settings):
    merged = "Label smoothing improves calibration of image classifiers and segmentation models."
    ctx, _, remember = setup(settings, [decide("merge", merged)])
    remember(ORIGINAL, source="arXiv:1", tags="a")
    answer = remember(RELATED, source="arXiv:2", tags="b")
    assert answer.startswith("Already stored as") and "arXiv:1; arXiv:2" in answer
    [note] = notes(ctx)
    assert note["text"] == merged and note["source"] == "arXiv:1; arXiv:2" and note["tags"] == ["a", "b"]


def test_model_says_supersede_keeps_the_old_note_marked(settings):
    ctx, _, remember = setup(settings, [decide("supersede")])
    remember("The baseline ResNet-50 was trained for 30 epochs on ImageNet.", kind="method")
    old = notes(ctx)[0]["id"]
    answer = remember("The baseline ResNet-50 was trained for 90 epochs on ImageNet.", kind="method")
    assert f"supersedes {old}" in answer
    assert [n["text"] for n in notes(ctx)] == ["The baseline ResNet-50 was trained for 90 epochs on ImageNet."]
    assert [n["id"] for n in notes(ctx, "superseded")] == [old]


def test_model_says_nothing_adds_no_note_but_keeps_the_source(settings):
    ctx, _, remember = setup(settings, [decide("nothing")])
    remember(ORIGINAL, source="arXiv:1")
    answer = remember(RELATED, source="arXiv:2")
    assert answer.startswith("Nothing new")
    [note] = notes(ctx)
    assert note["text"] == ORIGINAL and note["source"] == "arXiv:1; arXiv:2"


def test_notes_that_differ_in_a_number_are_never_merged(settings):
    ctx, worker, remember = setup(settings, [decide("merge", "Top-1 accuracy is 76% with label smoothing.")])
    remember("Top-1 accuracy is 76.4% with label smoothing.", kind="result", source="run:1")
    answer = remember("Top-1 accuracy is 76.1% with label smoothing.", kind="result", source="run:2")
    assert answer.startswith("Saved note") and len(worker.calls) == 1
    assert sorted(n["text"] for n in notes(ctx)) == ["Top-1 accuracy is 76.1% with label smoothing.",
                                                     "Top-1 accuracy is 76.4% with label smoothing."]


def test_a_merged_text_that_drops_a_number_is_rejected(settings):
    ctx, _, remember = setup(settings, [decide("merge", "Dropout helps a lot.")])
    remember("Dropout of 0.1 helps image classifiers.", source="arXiv:1")
    remember("Dropout of 0.1 helps image classifier models.", source="arXiv:2")
    [note] = notes(ctx)
    assert note["text"] == "Dropout of 0.1 helps image classifiers." and note["source"] == "arXiv:1; arXiv:2"


@pytest.mark.parametrize("reply", ["I would merge them.", '{"action": "merge", "target": "n-nonexistent"}',
                                   '{"action": "explode"}'])
def test_unusable_answer_falls_back_to_the_safe_rule_and_logs_it(settings, caplog, reply):
    ctx, worker, remember = setup(settings, [reply, reply])
    remember(ORIGINAL, source="arXiv:1")
    with caplog.at_level(logging.WARNING, logger="agent_scientist.memory.consolidate"):
        near = remember("Label smoothing improves the calibration of image classifiers.", source="arXiv:2")
        other = remember(RELATED, source="arXiv:3")
    assert len(worker.calls) == 2
    assert near.startswith("Already stored as")  # near-exact duplicate: merged
    assert other.startswith("Saved note")  # anything else: added
    assert "unusable consolidation answer" in caplog.text and "safe rule" in caplog.text
    assert len(notes(ctx)) == 2


def test_exact_duplicates_merge_without_asking_the_model(settings):
    ctx, worker, remember = setup(settings, [])
    remember(ORIGINAL, source="arXiv:1")
    assert remember(ORIGINAL.upper(), source="arXiv:1").startswith("Already stored")
    assert worker.calls == [] and notes(ctx)[0]["source"] == "arXiv:1"



def test_merging_into_an_evidence_note_keeps_its_worker_score(settings):
    """A neighbour's similarity is its own key: merging into an evidence note kept the worker's 0-10 score
    (it once overwrote `score`, so the merged note was stored with the similarity, 0 or 1)."""
    ctx, worker, remember = setup(settings, [])
    text = "Label smoothing lowers the expected calibration error of ResNet-50. “ECE falls from 4.5% to 2.1%”"
    ctx.memory.add_notes([{"id": "e-0123456789abcdef", "text": text, "kind": "evidence", "source": "arXiv:1",
                           "page": 3, "question": "Does label smoothing help calibration?", "pages": [3, 4],
                           "stance": "supports", "score": 7, "quote": "ECE falls from 4.5% to 2.1%"}])
    assert remember(text.upper(), source="arXiv:2").startswith("Already stored as e-0123456789abcdef")
    (note,) = read_notes(ctx.ws, ctx.settings, kinds=["evidence"])
    assert worker.calls == [] and note["source"] == "arXiv:1; arXiv:2"
    assert (note["score"], note["stance"], note["pages"], note["question"]) == (
        7, "supports", [3, 4], "Does label smoothing help calibration?")

ADVERSARIAL = [
    ("Revenue of the lab grew in Q1 2023.", "Revenue of the lab grew in Q3 2023."),
    ("The encoder has three attention layers.", "The encoder has four attention layers."),
    ("The model won't converge with Adam at lr 0.1.", "The model will converge with Adam at lr 0.1."),
    ("Label smoothing reduces the calibration error.", "Label smoothing raises the calibration error."),
    ("Dropout slightly improves accuracy on CIFAR-10.", "Dropout improves accuracy on CIFAR-10."),
    ("The reading group meets on Monday.", "The reading group meets on Friday."),
    ("Training in fp16 is stable for BERT.", "Training in fp32 is stable for BERT."),
    ("Weight decay probably helps ResNet-50.", "Weight decay helps ResNet-50."),
]


@pytest.mark.parametrize("stored,new", ADVERSARIAL)
def test_differs_catches_adversarial_pairs(stored, new):
    assert differs(stored, new) and differs(new, stored)


@pytest.mark.parametrize("action", ["merge", "nothing"])
@pytest.mark.parametrize("stored,new", ADVERSARIAL[:4])
def test_adversarial_pairs_are_added_even_when_the_model_says_merge_or_nothing(settings, stored, new, action):
    ctx, worker, remember = setup(settings, [decide(action, new)])
    remember(stored, source="arXiv:1")
    answer = remember(new, source="arXiv:2")
    assert len(worker.calls) == 1  # the pair is close enough for the model to be asked: the guard decided
    assert answer.startswith("Saved note"), answer
    assert sorted(n["text"] for n in notes(ctx)) == sorted([stored, new])


def test_a_failing_worker_model_falls_back_to_the_safe_rule_and_logs_it(settings, caplog):
    def broken(messages):
        raise RuntimeError("provider down")

    ctx, worker, remember = setup(settings, [broken, broken])
    remember(ORIGINAL, source="arXiv:1")
    with caplog.at_level(logging.WARNING, logger="agent_scientist.memory.consolidate"):
        near = remember("Label smoothing improves the calibration of image classifiers.", source="arXiv:2")
        other = remember(RELATED, source="arXiv:3")
    assert near.startswith("Already stored as") and other.startswith("Saved note")
    assert "consolidation model call failed" in caplog.text and "consolidation fallback" in caplog.text
    assert len(notes(ctx)) == 2
