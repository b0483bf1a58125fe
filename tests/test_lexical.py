"""The lexical (BM25) index on SQLite FTS5: stems, the lead column, kinds as rowid ranges, the stem counts
kept in step with the rows, an index of an earlier schema rebuilt from the store, and the weighted fusion."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent_scientist.config import Settings
from agent_scientist.memory import open_memory
from agent_scientist.memory.hybrid import LEXICAL_FILE, fuse
from agent_scientist.papers.lexical import LexicalIndex, bm25
from agent_scientist.workspace import Workspace


def test_porter_alone_makes_plural_and_singular_one_term() -> None:
    # The crude plural rule before Porter made "utilities" the stem "utiliti" and "utility" the stem "util".
    index = LexicalIndex()
    index.add([{"id": "u", "text": "a compatibility utility for old code"}, {"id": "w", "text": "fine weather"}])
    assert [i for i, _ in index.search("compatibility utilities", 5)] == ["u"]
    assert [i for i, _ in index.search("utilities", 5)] == ["u"]
    assert bm25(["utilities"], ["one utility", "fine weather"])[1] == 0


def test_one_letter_words_count() -> None:
    index = LexicalIndex()
    index.add([{"id": "r", "text": "bindings for the R language"}, {"id": "c", "text": "bindings for the C language"}])
    assert [i for i, _ in index.search("C bindings", 2)][0] == "c"


def test_a_texts_first_words_weigh_more() -> None:
    index = LexicalIndex()
    filler = " ".join(f"word{n}" for n in range(25))  # more than LEAD_WORDS
    late = f"{filler} gravitation"
    early = f"gravitation {filler} extra words"  # longer: lower BM25 on the text alone
    index.add([{"id": "late", "text": late}, {"id": "early", "text": early}] +
              [{"id": f"x{n}", "text": f"filler text number {n} about things"} for n in range(8)])
    assert [i for i, _ in index.search("gravitation", 2)] == ["early", "late"]
    plain = LexicalIndex(lead_weight=0.0)  # the weight is the searcher's: with none, the shorter text leads
    plain.add([{"id": "late", "text": late}, {"id": "early", "text": early}] +
              [{"id": f"x{n}", "text": f"filler text number {n} about things"} for n in range(8)])
    assert [i for i, _ in plain.search("gravitation", 2)] == ["late", "early"]


def test_kinds_are_kept_apart_and_stem_counts_follow_every_change() -> None:
    index = LexicalIndex()
    index.add([{"id": f"p{n}", "text": f"passage about widgets number {n}", "kind": "passage", "group": "g1"}
               for n in range(5)])
    index.add([{"id": "n1", "text": "a note about widgets", "kind": "note"}])
    index.add([{"id": f"q{n}", "text": f"another widget passage {n}", "kind": "passage", "group": "g2"}
               for n in range(3)])
    assert {i for i, _ in index.search("widgets", 20, kind="note")} == {"n1"}
    assert {i for i, _ in index.search("widgets", 20, kind="passage")} == {*(f"p{n}" for n in range(5)),
                                                                           *(f"q{n}" for n in range(3))}
    assert {i for i, _ in index.search("widgets", 20, kind="passage", group="g2")} == {"q0", "q1", "q2"}
    assert index.search("widgets", 5, kind="figure") == []  # a kind never added
    index.delete(["p1", "n1"])
    index.add([{"id": "r0", "text": "replaced widgets text", "kind": "passage", "group": "g2"}], replace_group="g2")
    assert index.count("passage") == 5 and index.count("note") == 0 and index.count() == 5
    db = index._db
    db.execute("CREATE VIRTUAL TABLE temp.recount USING fts5vocab(main, body, 'row')")
    assert dict(db.execute("SELECT stem, rows FROM stems")) == dict(db.execute("SELECT term, doc FROM temp.recount"))


def test_an_index_of_an_earlier_schema_is_rebuilt_from_the_store(home: Path) -> None:
    ws = Workspace.create(home, "old", "q")
    settings = Settings(home=home)
    store = open_memory(ws, settings)
    store.add_passages("2401.00001v1", [{"text": "The GSE41258 series was normalised.", "page_start": 1}])
    store.lexical.close()
    path = ws.memory_dir / LEXICAL_FILE
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    old = sqlite3.connect(path)  # the first schema: one text column, no stem counts, user_version 0
    old.executescript("CREATE TABLE rows (n INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, grp TEXT NOT NULL,"
                      " base TEXT NOT NULL, kind TEXT NOT NULL);"
                      "CREATE VIRTUAL TABLE body USING fts5(words, tokenize='porter unicode61');"
                      "INSERT INTO rows VALUES (1, '2401.00001v1#0', '2401.00001v1', '2401.00001', 'passage');"
                      "INSERT INTO body (rowid, words) VALUES (1, 'gse41258 serie normalised');")
    old.close()
    reopened = open_memory(ws, settings)
    assert reopened.lexical.count("passage") == 1
    assert [i for i, _ in reopened.lexical.search("GSE41258", 3, kind="passage")] == ["2401.00001v1#0"]


def test_fusion_weighs_the_lexical_ranking_above_the_dense_one() -> None:
    scores = fuse(["dense-first", "both"], ["lexical-first", "both"])
    assert sorted(scores, key=lambda i: -scores[i]) == ["both", "lexical-first", "dense-first"]
    equal = fuse(["a"], ["b"], 60, (1.0, 1.0))
    assert equal["a"] == equal["b"]


def test_hybrid_passages_keep_a_few_per_paper_and_read_back_the_ones_answered(home: Path) -> None:
    ws = Workspace.create(home, "cap", "q")
    store = open_memory(ws, Settings(home=home))
    store.add_passages("2401.00001v1", [{"text": f"Zeolite catalysts at {300 + n} K raised the yield by {n} points.",
                                         "page_start": n + 1} for n in range(6)])
    store.add_passages("2401.00002v1", [{"text": "A zeolite catalyst was compared once.", "page_start": 1},
                                        {"text": "Unrelated weather records from the coast.", "page_start": 2}])
    found = store.search_passages("zeolite catalysts yield", 5)
    papers = [f["paper_id"] for f in found]
    assert papers.count("2401.00001v1") == 3 and "2401.00002v1" in papers
    assert all(f["text"] and f["page_start"] >= 1 for f in found)  # every row answered is read back whole
    one = store.search_passages("zeolite catalysts yield", 5, paper_id="2401.00001v1")
    assert len(one) == 5 and {f["paper_id"] for f in one} == {"2401.00001v1"}
