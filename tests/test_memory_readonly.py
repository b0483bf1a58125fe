"""Reading the store through chromadb's core without its Python package (memory/readonly.py): the same answers
as the chromadb client, on the real chromadb and the real embedding model; no chromadb import in `memory
search` / `papers read --query`; the client when the reader cannot be used; the store left as the client leaves it.

The reader is used only for the chromadb versions in readonly.TESTED_VERSIONS. Under another one (a new
release from PyPI) the product uses the client, which the guard's test checks; the tests of the reader itself
skip, saying so, until this file has been run with the version added there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env
from support import pdfs
from test_cli_imports import PROBE as CLI_PROBE

from agent_scientist.config import load_settings
from agent_scientist.memory import open_memory, readonly
from agent_scientist.memory.embedding import resolve_runtime
from agent_scientist.memory.readonly import ReadOnlyClient, open_reader
from agent_scientist.workspace import Workspace

# The reader's own tests need a chromadb it was tested with; the guard's test runs under any version.
TESTED = readonly.chromadb_version() in readonly.TESTED_VERSIONS
reader = pytest.mark.skipif(not TESTED,
                            reason=f"chromadb {readonly.chromadb_version()} is not in readonly.TESTED_VERSIONS, "
                                   "so the product reads through the client")

PAPERS = ("arXiv:2401.00001v1", "arXiv:2401.00002v2", "doi:10.1000/xyz.7")
TOPICS = ("label smoothing and calibration", "dropout as a Bayesian approximation", "sparse attention widgets",
          "learning rate warmup", "temperature scaling of logits")
QUERIES = ("is the model calibrated?", "dropout uncertainty", "warmup schedule for the learning rate",
           "widgets")

# A CLI process as a user starts it (no warm fork: that one has pre-imported modules), reporting its modules;
# "client" first in the arguments: the reader is refused as for a chromadb version it was not tested with.
PROBE = """
import json, sys
if json.loads(sys.argv[1])[:1] == ["client"]:
    import agent_scientist.memory.readonly as readonly
    readonly.TESTED_VERSIONS = ()
    sys.argv[1] = json.dumps(json.loads(sys.argv[1])[1:])
""" + CLI_PROBE


def _cli(home: Path, *args: str) -> tuple[str, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], env=cli_env(home), capture_output=True,
                          text=True, timeout=180, cwd=home.parent)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stdout + done.stderr
    return done.stdout, set(report["modules"])


def _fill(settings, name: str = "w") -> Workspace:
    """Notes of several kinds, sources and statuses, three papers' passages and a history summary."""
    ws = Workspace.open_or_create(settings.home, name)
    store = open_memory(ws, settings)
    kinds = ("finding", "method", "result", "question")
    notes = [{"text": f"Note {i}: {TOPICS[i % len(TOPICS)]} changes accuracy by {i / 10:.1f} points.",
              "kind": kinds[i % len(kinds)], "source": PAPERS[i % len(PAPERS)] if i % 4 else "run:3",
              "page": i % 5} for i in range(40)]
    ids = store.add_notes(notes)
    for note_id in ids[:6]:
        store.set_status(note_id, "superseded")
    for n, paper in enumerate(PAPERS):
        store.add_passages(paper, [{"text": f"Section {j} of paper {n}: {TOPICS[(j + n) % len(TOPICS)]}, "
                                            f"measured on benchmark {j * 7 % 11}.", "page_start": j + 1,
                                    "page_end": j + 1 + j % 2} for j in range(12)])
    store.add_summary(1, 4, "Steps 1-4 searched for calibration papers.")
    return ws


def _answers(store, vector) -> dict:
    """Everything the commands (and the planner's tools) ask the store, in one comparable record."""
    out: dict = {"count": store.count_notes(), "summaries": store.summaries(),
                 "listed": [store.list_notes(kinds=k, status=s) for k in (None, ["method"], ["method", "result"])
                            for s in ("active", "superseded", None)],
                 "has": [store.has_passages(p) for p in (*PAPERS, "arXiv:9999.00000")]}
    out["got"] = store.get_notes([n["id"] for n in out["listed"][2][::3]])
    for q in QUERIES:
        out[q] = [store.recall(q, k, kind, source) for k, kind, source in
                  ((5, "", ""), (3, "passage", ""), (4, "method", ""), (4, "superseded", ""),
                   (5, "", "arXiv:2401.00001"), (3, "passage", "doi:10.1000/xyz.7"), (8, "finding", "run:3"))]
        out[q] += [store.search_passages(q, 4, paper_id) for paper_id in ("", *PAPERS)]
        out[q].append(store.search_passages(q, 4, source="arXiv:2401.00002"))
    # dense only: the filters the notes' search adds, the scan with embeddings, passages of one paper
    out["nearest"] = [store.nearest_notes(vector, n, status, kind, source) for n, status, kind, source in
                      ((5, "active", "", ""), (3, "superseded", "", ""), (4, "active", "result", ""),
                       (30, "active", "", "arXiv:2401.00002"))]
    out["nearest"] += [store.nearest_passages(vector, 6, p) for p in ("", *PAPERS)]
    return out


@reader
def test_the_reader_answers_as_the_chromadb_client(settings):
    ws = _fill(settings)
    fast, client = open_memory(ws, settings, for_reading=True), open_memory(ws, settings)
    assert isinstance(fast.client, ReadOnlyClient) and not isinstance(client.client, ReadOnlyClient)
    vector = client.embed(["calibration of deep networks"])[0]
    assert _answers(fast, vector) == _answers(client, vector)  # same ids, texts, metadata, scores, order
    for name in ("notes", "passages", "history"):  # and the raw answers, distances unrounded
        ours, theirs = getattr(fast, name), getattr(client, name)
        assert ours.metadata == theirs.metadata and ours.count() == theirs.count()
        q = {"query_embeddings": [vector.tolist()], "n_results": 7, "include": ["documents", "metadatas", "distances"]}
        for where in (None, {"status": "active"}, {"$and": [{"status": "active"}, {"kind": "method"}]},
                      {"paper_id": PAPERS[1]}, {"paper_base": "10.1000/xyz.7"}):
            a, b = ours.query(**q, where=where), theirs.query(**q, where=where)
            assert [a[key] for key in q["include"] + ["ids"]] == [b[key] for key in q["include"] + ["ids"]]
        a, b = ours.get(include=["documents", "metadatas", "embeddings"]), theirs.get(include=["documents",
                                                                                               "metadatas",
                                                                                               "embeddings"])
        assert a["ids"] == b["ids"] and a["documents"] == b["documents"] and a["metadatas"] == b["metadatas"]
        assert type(a["embeddings"]) is type(b["embeddings"]) and (a["embeddings"] == b["embeddings"]).all()
    assert "chromadb" in sys.modules  # this process opened the client too; the CLI tests check the reader alone


@reader
def test_memory_search_imports_no_chromadb_and_prints_what_the_client_finds(home, settings):
    _fill(settings)
    for query, extra in (("calibration of the model", ()), ("dropout", ("-k", "10")), ("widgets", ("-k", "2"))):
        args = ("memory", "search", query, "--name", "w", *extra)
        out, modules = _cli(home, *args)
        assert "chromadb" not in modules and "chromadb_rust_bindings" in modules
        client_out, client_modules = _cli(home, "client", *args)
        assert "chromadb" in client_modules  # the version guard sent this one to the client
        assert out == client_out and out.count(" n-") + out.count(" arXiv:") + out.count(" doi:") >= 2
        as_json, _ = _cli(home, *args, "--json")
        client_json, _ = _cli(home, "client", *args, "--json")
        assert json.loads(as_json) == json.loads(client_json) and json.loads(as_json)


@reader
def test_papers_read_query_imports_no_chromadb_and_prints_what_the_client_finds(cli, home, tmp_path):
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(pdfs.make_paper(4))
    assert cli("papers", "add", "lib", str(pdf)).returncode == 0
    [meta] = json.loads(cli("papers", "list", "lib", "--json").stdout)
    for query in ("diagram of precision against scale", "results of the method"):
        args = ("papers", "read", meta["id"], "--query", query, "--name", "lib")
        out, modules = _cli(home, *args)
        assert "chromadb" not in modules and resolve_runtime("auto") in modules  # the passages came from the memory
        client_out, client_modules = _cli(home, "client", *args)
        assert "chromadb" in client_modules and out == client_out and "passages for" in out


@reader
def test_papers_read_query_of_an_unindexed_paper_hands_over_to_the_client_and_indexes_it(cli, home, settings,
                                                                                           tmp_path):
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(pdfs.make_paper(4))
    memory = home / "lib" / "memory"
    assert cli("init", "lib").returncode == 0
    memory.rmdir()
    memory.write_text("not a folder")  # the paper is added but not indexed
    assert cli("papers", "add", "lib", str(pdf)).returncode == 0
    memory.unlink()
    ws = Workspace.open(settings.home, "lib")
    open_memory(ws, settings).add_notes([{"text": "A note, so the store exists.", "kind": "finding"}])
    [meta] = json.loads(cli("papers", "list", "lib", "--json").stdout)
    args = ("papers", "read", meta["id"], "--query", "diagram of precision against scale", "--name", "lib")
    out, modules = _cli(home, *args)
    assert "chromadb" in modules  # indexing the paper is a write: the client did it
    assert "(1) p.3: Figure 1: Accuracy" in out and "note:" not in out
    assert open_memory(ws, settings).has_passages(meta["id"])
    again, modules = _cli(home, *args)
    assert "chromadb" not in modules and again == out  # now indexed: read without chromadb, the same passages


@reader
def test_a_write_on_a_store_opened_for_reading_goes_through_the_client(settings):
    ws = _fill(settings)
    store = open_memory(ws, settings, for_reading=True)
    reader = store.client
    assert isinstance(reader, ReadOnlyClient) and reader.core is not None
    [note_id] = store.add_notes([{"text": "Warmup of 500 steps stabilises training.", "kind": "finding"}])
    assert reader.core is None and not isinstance(store.client, ReadOnlyClient)  # handed over
    assert reader.collections["notes"].count() == store.count_notes() == 41  # an old handle answers too
    assert store.recall("warmup steps", 1)[0]["id"] == note_id
    assert [n["id"] for n in open_memory(ws, settings).get_notes([note_id])] == [note_id]  # it is stored


def test_the_client_is_used_for_an_untested_chromadb_version_a_server_an_api_model_or_no_store(
        settings, monkeypatch, caplog):
    ws = _fill(settings)
    caplog.set_level(logging.DEBUG, logger="agent_scientist.memory.readonly")
    monkeypatch.setattr(readonly, "chromadb_version", lambda: "1.0.0")
    store = open_memory(ws, settings, for_reading=True)
    assert not isinstance(store.client, ReadOnlyClient)
    assert "chromadb 1.0.0 is not one it was tested with" in caplog.text
    monkeypatch.undo()
    vector = store.embed(["calibration"])[0]
    assert _answers(store, vector) == _answers(open_memory(ws, settings, for_reading=True), vector)
    names = ("notes", "passages", "history")
    assert (open_reader(ws.memory_dir, settings, names) is not None) == TESTED
    for override in ({"memory_url": "http://127.0.0.1:9"}, {"embedding_model": "openai/text-embedding-3-small"}):
        assert open_reader(ws.memory_dir, load_settings({"home": str(settings.home), **override}), names) is None
    assert open_reader(settings.home / "none" / "memory", settings, names) is None
    caplog.clear()
    assert open_reader(ws.memory_dir, settings, ("notes", "no-such-collection")) is None  # an error opening it
    assert ("its core did not open the store" in caplog.text) == TESTED


def _state(folder: Path) -> dict[str, str]:
    """Every file's bytes (as a hash), the database as its SQL, less what chromadb's core rewrites at each open."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "chroma.sqlite3":
            # length.bin: chromadb's core writes it again whenever it loads the segment, from memory it never set
            data = str(path.stat().st_size) if path.name == "length.bin" else path.read_bytes()
            out[str(path.relative_to(folder))] = hashlib.sha256(data if isinstance(data, bytes) else
                                                                data.encode()).hexdigest()
    con = sqlite3.connect(folder / "chroma.sqlite3")
    try:
        out["chroma.sqlite3"] = "\n".join(line for line in con.iterdump() if "acquire_write\" VALUES" not in line)
        out["acquire_write rows"] = str(con.execute("SELECT count(*) FROM acquire_write").fetchone()[0])
    finally:
        con.close()
    return out


@reader
def test_a_search_leaves_the_store_as_the_client_does(home, settings):
    # filled by a process that has ended, as a user's earlier run (a live writer's client may still be saving)
    code = f"from agent_scientist.config import load_settings; import test_memory_readonly as t; " \
           f"t._fill(load_settings({{'home': {str(home)!r}}}))"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent, env=cli_env(home),
                   capture_output=True, timeout=300)
    ws = Workspace.open(settings.home, "w")
    first = _ours(_state(ws.memory_dir))
    out, _ = _cli(home, "memory", "search", "calibration", "--name", "w")
    rows = int(_state(ws.memory_dir)["acquire_write rows"])
    assert _ours(_state(ws.memory_dir)) == first
    for n, args in enumerate((("memory", "search", "calibration", "--name", "w"),
                              ("client", "memory", "search", "calibration", "--name", "w")), start=1):
        again, _ = _cli(home, *args)
        after = _state(ws.memory_dir)
        # the core, through its client as through the reader, adds one row to acquire_write when it opens
        assert int(after.pop("acquire_write rows")) == rows + n
        assert _ours(after) == first and again == out  # nothing else: no migration, no row, no header changed


def _ours(state: dict[str, str]) -> dict[str, str]:
    """The store less the vector index's data files, which chromadb's core (through its client as through the
    reader) saves again whenever its index lags its log, in batches and not only at the first open: derived data."""
    return {k: v for k, v in state.items() if k != "acquire_write rows"
            and not k.endswith(("data_level0.bin", "link_lists.bin"))}


@reader
def test_a_store_the_core_cannot_open_is_left_to_the_client(settings):
    ws = _fill(settings)
    (ws.memory_dir / "chroma.sqlite3").write_bytes(b"not a database")
    assert open_reader(ws.memory_dir, settings, ("notes",)) is None
