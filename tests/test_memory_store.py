"""The memory store and the planner's memory tools, on the real chromadb and the real embedding model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.memory_box import memory_box

from agent_scientist.agent.registry import planner_tools
from agent_scientist.contracts import ToolContext, ToolError
from agent_scientist.memory import MemoryUnavailable, open_memory, read_notes
from agent_scientist.memory.embedding import LocalEmbedder, get_embedder, openvino_installed
from agent_scientist.workspace import Workspace

REFERENCE = Path(__file__).parent / "data" / "memory_embedding_reference.json"
TODAY = Path(__file__).parent / "data" / "memory_embedding_today.json"  # bench/make_embedding_reference.py --today


def make_box(settings, name: str = "w", worker=None):
    ws = Workspace.open_or_create(settings.home, name)
    ctx = ToolContext(ws=ws, settings=settings, worker_model=worker)
    ctx, box = memory_box(ctx)
    tools = {t.name: t for t in planner_tools(box)}
    return ctx, box, tools["remember"], tools["recall"]


RUNTIMES = ["onnxruntime", pytest.param("openvino", marks=pytest.mark.skipif(
    not openvino_installed(), reason="the openvino extra is not installed (`.ci/run` installs it)"))]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_embedding_matches_the_fp32_reference(runtime):
    ref = json.loads(REFERENCE.read_text())
    vectors = get_embedder("local", runtime=runtime).embed(ref["sentences"])
    expected = np.asarray(ref["vectors"])
    cosines = (vectors * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)
    assert vectors.shape == (8, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (cosines >= 0.999).all(), cosines  # the README's figure (lowest today: 0.9995)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_embedding_gives_the_vectors_of_issue_28s_baseline(runtime):
    """Speed work on the embedder keeps its vectors: every fixture text (notes of 5-60 tokens, 1,000-character
    passages) at cosine >= 0.9999 to the bundled model's vectors as they were, alone and batched together, on
    either runtime."""
    fixture = json.loads(TODAY.read_text())
    expected = np.asarray(fixture["vectors"])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    embedder = get_embedder("local", runtime=runtime)
    assert embedder.runtime == runtime
    together = embedder.embed(fixture["texts"])
    alone = np.stack([embedder.embed([t])[0] for t in fixture["texts"][::5]])
    assert ((together * expected).sum(axis=1) >= 0.9999).all(), (together * expected).sum(axis=1)
    assert ((alone * expected[::5]).sum(axis=1) >= 0.9999).all()


def test_batches_pad_to_the_longest_text_and_give_the_same_vectors():
    embedder = LocalEmbedder(batch_size=4)
    texts = ["short", "a much longer sentence about sparse attention in transformers " * 3, "mid length text"]
    encodings = embedder.tokenizer.encode_batch(texts)
    longest = max(sum(e.attention_mask) for e in encodings)
    assert {len(e.ids) for e in encodings} == {longest}  # padded to the longest, not to a fixed length
    assert len(embedder.tokenizer.encode("word " * 1000).ids) == 256  # truncated to the model's length
    together = embedder.embed(texts)
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


class _Recording:
    """The real model call, recording the shape of every batch it is given."""

    def __init__(self, infer, padding: bool = False):
        self.infer, self.shapes, self.padding = infer, [], padding

    def __call__(self, feeds):
        self.shapes.append(feeds["attention_mask"].shape)
        assert self.padding or feeds["attention_mask"].all(), "a batch carried padding"
        return self.infer(feeds)


def test_batches_group_texts_by_token_length_so_no_token_is_padding():
    embedder = LocalEmbedder(batch_size=2)
    # By characters the order is 8, 9, 12, 15; by tokens 4, 4, 10, 10: sorting by characters pads two batches.
    texts = ["qzxv jkwq", "Hi there", "b b b b b b b b", "Good morning"]
    lengths = [len(embedder._plain.encode(t).ids) for t in texts]
    assert lengths == [10, 4, 10, 4]
    expected = np.stack([embedder.embed([t])[0] for t in texts])
    embedder._infer = recording = _Recording(embedder._infer)
    vectors = embedder.embed(texts)
    assert sorted(recording.shapes) == [(2, 4), (2, 10)]
    assert np.allclose(vectors, expected, atol=1e-5)


@pytest.mark.skipif(not openvino_installed(), reason="the openvino extra is not installed (`.ci/run` installs it)")
def test_openvino_batches_hold_about_the_same_number_of_tokens():
    """On OpenVINO a batch takes as many texts as fit BATCH_TOKENS padded tokens (at most MAX_BATCH): many short
    notes at once, few long passages; the vectors are those of each text alone."""
    from agent_scientist.memory.embedding import BATCH_TOKENS, MAX_BATCH

    embedder = LocalEmbedder(runtime="openvino")
    texts = ["Hi there"] * 100 + ["word " * 300] * 9 + ["b b b b b b b b"] * 3
    embedder._infer = recording = _Recording(embedder._infer, padding=True)  # 4- and 10-token texts may meet
    vectors = embedder.embed(texts)
    shapes = recording.shapes
    assert sum(n for n, _ in shapes) == len(texts)
    assert all(n * width <= BATCH_TOKENS or n == 1 for n, width in shapes) and max(n for n, _ in shapes) == MAX_BATCH
    assert [n for n, width in shapes if width == 256] == [BATCH_TOKENS // 256] * 2 + [9 - 2 * (BATCH_TOKENS // 256)]
    alone = np.stack([embedder.embed([t])[0] for t in (texts[0], texts[100], texts[-1])])
    assert ((vectors[[0, 100, -1]] * alone).sum(axis=1) >= 0.9999).all()  # bf16: kernels differ by batch shape


def test_auto_runtime_is_openvino_where_installed():
    from agent_scientist.memory.embedding import resolve_runtime

    assert resolve_runtime("auto") == ("openvino" if openvino_installed() else "onnxruntime")
    assert resolve_runtime("onnxruntime") == "onnxruntime" and resolve_runtime("openvino") == "openvino"


def test_remember_merges_a_duplicate_keeping_both_sources(settings):
    ctx, _, remember, recall = make_box(settings)
    first = remember("Label smoothing improves calibration of ResNet-50 on ImageNet.",
                     source="arXiv:1906.02629v3", page=4, tags="calibration")
    note_id = first.split()[-1].rstrip(".")
    again = remember("Label smoothing improves calibration of ResNet-50 on ImageNet", source="arXiv:2001.00001")
    assert again.startswith(f"Already stored as {note_id}") and "arXiv:1906.02629v3; arXiv:2001.00001" in again
    notes = read_notes(ctx.ws, settings)
    assert len(notes) == 1
    assert notes[0]["source"] == "arXiv:1906.02629v3; arXiv:2001.00001" and notes[0]["page"] == 4
    assert notes[0]["tags"] == ["calibration"]


def test_recall_ranks_by_meaning_and_filters(settings):
    ctx, _, remember, recall = make_box(settings)
    remember("Label smoothing improves the calibration of image classifiers.", source="arXiv:1906.02629v3")
    remember("The learning rate warmup stabilises transformer training.", kind="method", source="arXiv:1706.03762v7")
    remember("Try label smoothing 0.05 on CIFAR-10 next.", kind="todo", source="run:3")
    ctx.memory.add_passages("1906.02629v3", [
        {"text": "Expected calibration error falls from 4.5% to 2.1% with smoothing.", "page_start": 4,
         "page_end": 4},
        {"text": "We thank the reviewers.", "page_start": 9, "page_end": 9},
    ])
    top = recall("does label smoothing help calibration?", k=3)
    assert top[0]["text"].startswith("Label smoothing improves") or top[0]["kind"] == "passage"
    assert set(top[0]) >= {"id", "text", "kind", "source", "page", "score"}
    assert [r["score"] for r in top] == sorted((r["score"] for r in top), reverse=True)
    assert all("warmup" not in r["text"] for r in top[:2])
    assert [r["kind"] for r in recall("calibration", kind="todo")] == ["todo"]
    passages = recall("calibration error", kind="passage", k=1)
    assert passages[0]["source"] == "arXiv:1906.02629v3" and passages[0]["page"] == 4
    by_source = recall("training", source="arXiv:1706.03762")  # version optional
    assert [r["source"] for r in by_source] == ["arXiv:1706.03762v7"]
    assert recall("training", source="run:3")[0]["kind"] == "todo"
    with pytest.raises(ToolError, match="Unknown kind"):
        recall("x", kind="banana")


def test_superseded_notes_are_hidden_unless_asked(settings):
    ctx, _, remember, recall = make_box(settings)
    remember("The baseline was trained for 30 epochs.", kind="method")
    old = read_notes(ctx.ws, settings)[0]["id"]
    ctx.memory.set_status(old, "superseded")
    assert recall("baseline epochs") == []
    assert [r["id"] for r in recall("baseline epochs", kind="superseded")] == [old]
    assert [n["id"] for n in read_notes(ctx.ws, settings, status="superseded")] == [old]


def test_passages_api_is_idempotent_per_paper(settings):
    ctx, *_ = make_box(settings)
    chunks = [{"text": f"Passage {i} about optimisers and Adam.", "page_start": i + 1, "page_end": i + 2}
              for i in range(5)]
    assert not ctx.memory.has_passages("2401.01234v2")
    ctx.memory.add_passages("2401.01234v2", chunks)
    ctx.memory.add_passages("2401.01234v2", chunks[:3])
    assert ctx.memory.has_passages("2401.01234v2")
    found = ctx.memory.search_passages("Adam optimiser", k=10)
    assert len(found) == 3 and set(found[0]) == {"id", "text", "paper_id", "page_start", "page_end", "score"}
    ctx.memory.add_passages("local:ab12cd34", [{"text": "Our own PDF on Adam.", "page_start": 2, "page_end": 2}])
    only = ctx.memory.search_passages("Adam", k=5, paper_id="local:ab12cd34")
    assert [p["paper_id"] for p in only] == ["local:ab12cd34"]


def test_empty_huge_and_unknown_notes(settings):
    ctx, _, remember, _ = make_box(settings)
    with pytest.raises(ToolError, match="empty"):
        remember("   ")
    with pytest.raises(ToolError, match="Unknown kind 'banana'.*finding"):
        remember("A fine note.", kind="banana")
    answer = remember("word " * 1000)
    assert "cut from 4999 to 2000 characters" in answer
    assert len(read_notes(ctx.ws, settings)[0]["text"]) == 2000


def test_list_notes_order_kinds_and_no_store(settings):
    ws = Workspace.create(settings.home, "empty")
    assert read_notes(ws, settings) == []
    assert not (ws.memory_dir / "chroma.sqlite3").exists()  # reading does not create a store
    ctx, _, remember, _ = make_box(settings, "full")
    for i, kind in enumerate(["finding", "todo", "finding", "lesson"]):
        remember(f"Distinct note number {i} about topic {'abcd'[i]}.", kind=kind)
    notes = read_notes(ctx.ws, settings)
    assert [n["text"].split()[3] for n in notes] == ["0", "1", "2", "3"]
    assert [n["kind"] for n in read_notes(ctx.ws, settings, kinds=["finding", "lesson"])] == [
        "finding", "finding", "lesson"]
    assert set(notes[0]) == {"id", "text", "kind", "status", "source", "page", "tags", "step", "created_at",
                             "updated_at"}


@pytest.mark.parametrize("damage", ["garbage_db", "file_not_dir"])
def test_corrupt_memory_disables_memory_with_a_clear_message(settings, damage):
    ws = Workspace.create(settings.home, f"broken-{damage.replace('_', '-')}")
    if damage == "garbage_db":
        (ws.memory_dir / "chroma.sqlite3").write_bytes(b"this is not a sqlite database" * 100)
    else:
        ws.memory_dir.rmdir()
        ws.memory_dir.write_text("oops")
    ctx = ToolContext(ws=ws, settings=settings)
    ctx, box = memory_box(ctx)
    assert ctx.memory is None
    assert len(ctx.warnings) == 1 and "Memory is disabled for this run" in ctx.warnings[0]
    assert "cannot be opened" in ctx.warnings[0] and "mv " in ctx.warnings[0]
    remember = {t.name: t for t in planner_tools(box)}["remember"]
    with pytest.raises(ToolError, match="Memory is unavailable"):
        remember("A finding.")
    assert box.step_callbacks  # trimming still works without the store
    with pytest.raises(MemoryUnavailable, match="cannot be opened"):  # unusable, never read as "no notes"
        read_notes(ws, settings)
    with pytest.raises(MemoryUnavailable, match="cannot be opened"):
        open_memory(ws, settings)


def test_an_embedding_model_that_fails_disables_memory_with_a_clear_message(settings):
    import dataclasses

    broken = dataclasses.replace(settings, embedding_model="no-such-provider/no-such-model")
    ws = Workspace.create(settings.home, "badembed")
    ctx = ToolContext(ws=ws, settings=broken)
    ctx, _ = memory_box(ctx)
    assert ctx.memory is None
    assert "Embedding model 'no-such-provider/no-such-model' failed" in ctx.warnings[0]
    assert 'embedding_model = "local"' in ctx.warnings[0]


def test_a_locked_store_disables_memory_with_a_clear_message(settings):
    import sqlite3

    ctx, _, remember, _ = make_box(settings, "locked")
    remember("A note before the lock.")
    con = sqlite3.connect(ctx.ws.memory_dir / "chroma.sqlite3", isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")  # another process holding the database
    try:
        again = ToolContext(ws=ctx.ws, settings=settings)
        again, _ = memory_box(again)
        assert again.memory is None
        assert "is locked by another process" in again.warnings[0]
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert [n["text"] for n in read_notes(ctx.ws, settings)] == ["A note before the lock."]


def test_recall_bounds_long_passages_and_says_how_to_get_more(settings):
    ctx, _, _, recall = make_box(settings, "long")
    long_text = "Gradient clipping stabilises training of recurrent networks. " * 25
    ctx.memory.add_passages("2401.01234v2", [{"text": long_text, "page_start": 2, "page_end": 3}])
    [hit] = recall("gradient clipping", kind="passage")
    assert len(hit["text"]) < 900 and hit["text"].endswith("read the page for the rest]")
    assert hit["page"] == 2 and hit["page_end"] == 3
    assert ctx.memory.search_passages("gradient clipping")[0]["text"] == long_text  # the papers tool cuts itself
