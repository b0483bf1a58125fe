"""The memory's records (agent_scientist.records) name every key a real store writes and answers: mypy checks
the literal keys, this checks the rows rebuilt from chromadb's metadata and the ones spread from other records."""

from __future__ import annotations

from typing import Any, get_type_hints

from agent_scientist.config import load_settings
from agent_scientist.memory import open_memory
from agent_scientist.records import (
    Chunk,
    HistorySummary,
    Note,
    NoteHit,
    NoteMeta,
    PassageHit,
    PassageMeta,
    RecallHit,
    SummaryMeta,
)
from agent_scientist.workspace import Workspace


def keys(record: Any) -> set[str]:
    return set(get_type_hints(record))


def test_every_key_the_memory_writes_and_answers_is_in_its_record(home):
    store = open_memory(Workspace.create(home, "r", "Q?"), load_settings({"home": str(home)}))
    note = Note(text="Label smoothing lowers the calibration error on ImageNet.", kind="evidence",
                source="arXiv:2401.00001v1", page=2, tags=["calibration"], step=3, question="Does it help?",
                pages=[2, 3], stance="supports", score=7, quote="the calibration error falls")
    (note_id,) = store.add_notes([note])
    store.add_passages("2401.00001v1", [Chunk(text="The expected calibration error falls with label smoothing.",
                                              page_start=2, page_end=3)])
    store.add_summary(1, 4, "Steps 1 to 4 searched for papers on calibration.")
    for name, meta in (("notes", NoteMeta), ("passages", PassageMeta), ("history", SummaryMeta)):
        stored = getattr(store, name).get(include=["metadatas"])["metadatas"]
        assert stored and all(set(m) <= keys(meta) for m in stored), name

    (got,) = store.get_notes([note_id])
    assert set(got) == keys(Note) and {k: got[k] for k in note} == note
    vector = store.embed(["label smoothing calibration"])[0]
    (hit,) = store.nearest_notes(vector, 1)
    assert set(hit) == keys(NoteHit) and hit["score"] == 7 and 0.3 < hit["similarity"] <= 1.0
    for passages in (store.nearest_passages(vector, 1), store.search_passages("label smoothing calibration", 1)):
        assert [set(p) for p in passages] == [keys(PassageHit)]
    found = store.recall("label smoothing calibration", 5)
    assert {h["kind"] for h in found} == {"evidence", "passage"}
    store.set_status(note_id, "superseded")
    retired = store.recall("label smoothing calibration", 5, kind="superseded")
    assert [h["status"] for h in retired] == ["superseded"]
    assert all(set(h) <= keys(RecallHit) for h in found + retired)
    assert [set(s) for s in store.summaries()] == [keys(HistorySummary)]
