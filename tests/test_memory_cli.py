"""`agent-scientist memory ...` as a user runs it, including a SIGKILL in the middle of an import."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import cli_env
from support import warm
from support.openai_server import ChatServer

from agent_scientist.config import load_settings
from agent_scientist.memory import open_memory, read_notes
from agent_scientist.workspace import Workspace


def write_notes(path, n):
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"text": f"Observation {i}: topic {i % 37} has value {i * 7 % 101}.",
                                 "kind": "result", "source": f"run:{i % 5}"}) + "\n")


def test_add_list_search(cli, home):
    r = cli("memory", "add", "fresh", "Label smoothing improves calibration.", "--source", "arXiv:1906.02629v3",
            "--page", "4")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Saved note n-")
    assert (home / "fresh" / "workspace.json").exists()  # created like `init`
    r = cli("memory", "add", "fresh", "Label smoothing improves calibration", "--source", "arXiv:2001.00001")
    assert "Already stored as" in r.stdout and "arXiv:1906.02629v3; arXiv:2001.00001" in r.stdout
    cli("memory", "add", "fresh", "Try smoothing 0.05 next.", "--kind", "todo")
    r = cli("memory", "list", "fresh", "--json")
    notes = json.loads(r.stdout)
    assert [n["kind"] for n in notes] == ["finding", "todo"] and notes[0]["page"] == 4
    r = cli("memory", "list", "fresh", "--kind", "todo")
    assert "Try smoothing 0.05 next." in r.stdout and "1 note(s)." in r.stdout
    r = cli("memory", "search", "fresh", "is the model calibrated?", "-k", "1", "--json")
    [hit] = json.loads(r.stdout)
    assert hit["source"] == "arXiv:1906.02629v3; arXiv:2001.00001" and set(hit) >= {"id", "score", "page"}
    r = cli("memory", "search", "fresh", "calibration")
    assert r.returncode == 0 and "Label smoothing improves calibration" in r.stdout


def test_bad_input_gets_clear_messages(cli, home, tmp_path):
    r = cli("memory", "add", "w", "A note.", "--kind", "banana")
    assert r.returncode == 2 and "Unknown kind 'banana'" in r.stderr
    assert not (home / "w").exists()  # nothing created for a refused note
    r = cli("memory", "add", "w", "   ")
    assert r.returncode == 2 and "empty" in r.stderr
    r = cli("memory", "list", "missing")
    assert r.returncode == 2 and "No workspace named 'missing'" in r.stderr
    r = cli("memory", "add", "w", "word " * 1000)
    assert r.returncode == 0 and "cut from 4999 to 2000" in r.stderr
    r = cli("memory", "import", "w", str(tmp_path / "nope.jsonl"))
    assert r.returncode == 2 and "is not a file" in r.stderr
    ws = Workspace.create(home, "broken")
    (ws.memory_dir / "chroma.sqlite3").write_bytes(b"garbage" * 500)
    r = cli("memory", "list", "broken")
    assert r.returncode == 2 and "cannot be opened" in r.stderr and "Traceback" not in r.stderr


def test_import_in_batches_skips_bad_lines_and_is_idempotent(cli, home, tmp_path):
    path = tmp_path / "notes.jsonl"
    write_notes(path, 300)
    with open(path, "a") as fh:
        fh.write("not json\n")
        fh.write(json.dumps({"text": "x", "kind": "banana"}) + "\n")
        fh.write(json.dumps({"text": "Superseded idea.", "kind": "hypothesis", "status": "superseded",
                             "tags": ["a", "b"], "page": 2}) + "\n")
        fh.write(json.dumps({"text": "huge " * 1000, "kind": "finding"}) + "\n")
    r = cli("memory", "import", "imported", str(path))
    assert r.returncode == 0, r.stderr
    assert "imported 256/304" in r.stdout and "Imported 302 note(s) into imported; skipped 2 bad line(s)." in r.stdout
    assert "line 301: not valid JSON" in r.stderr and "line 302: Unknown kind 'banana'" in r.stderr
    assert "line 304: The note was cut from 4999 to 2000 characters" in r.stderr
    r = cli("memory", "import", "imported", str(path))
    assert r.returncode == 0
    s = load_settings({"home": str(home)})
    ws = Workspace.open(home, "imported")
    assert len(read_notes(ws, s)) == 301
    [old] = read_notes(ws, s, status="superseded")
    assert old["tags"] == ["a", "b"] and old["page"] == 2


def test_import_stores_the_embedders_vectors(cli, home, tmp_path):
    """Each imported note, over several batches, gets its own text's vector (cosine >= 0.9999 to the bundled
    model's as it was, tests/data/memory_embedding_today.json)."""
    fixture = json.loads((Path(__file__).parent / "data" / "memory_embedding_today.json").read_text())
    texts = fixture["texts"] * 9  # 288 lines: two batches
    path = tmp_path / "fixture.jsonl"
    path.write_text("".join(json.dumps({"text": t, "kind": "finding", "source": f"run:{i}"}) + "\n"
                            for i, t in enumerate(texts)))
    r = cli("memory", "import", str(path), "--name", "vectors")
    assert r.returncode == 0, r.stderr
    assert "Imported 288 note(s) into vectors." in r.stdout
    store = open_memory(Workspace.open(home, "vectors"), load_settings({"home": str(home)}))
    got = store.notes.get(include=["documents", "embeddings"])
    expected = {t.strip(): np.asarray(v) / np.linalg.norm(v)  # a note is stored stripped (its vector too)
                for t, v in zip(fixture["texts"], fixture["vectors"], strict=True) if t == t.strip()}
    assert len(got["ids"]) == 288
    cosines = [float(np.dot(e, expected[d])) for d, e in zip(got["documents"], got["embeddings"], strict=True)
               if d in expected]
    assert len(cosines) >= 250 and min(cosines) >= 0.9999, (len(cosines), min(cosines))


def test_import_failing_halfway_keeps_what_it_stored_and_says_how_much(cli, home, tmp_path):
    """The embedding API refuses the second batch: the first batch is stored in chromadb and in the lexical index
    alike, the message counts it, and importing again adds the rest."""
    path = tmp_path / "notes.jsonl"
    write_notes(path, 600)
    lines = path.read_text().splitlines()  # a line repeated in the same batch is one note (chromadb refuses twins)
    path.write_text("\n".join(lines[:10] + lines[3:4] + lines[10:]) + "\n")
    with ChatServer(embeddings_ok=6) as server:  # 64 texts a request: batch 1 is 4 requests, batch 2 fails
        env = cli_env(home, AGENT_SCIENTIST_EMBEDDING_MODEL="openai/test-embedding",
                      AGENT_SCIENTIST_API_BASE=server.url)
        r = cli("memory", "import", "half", str(path), env=env)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "quota exceeded" in r.stderr and "255 notes were imported before this" in r.stderr
        assert "Traceback" not in r.stderr
        s = load_settings({"home": str(home), "embedding_model": "openai/test-embedding", "api_base": server.url})
        store = open_memory(Workspace.open(home, "half"), s)
        assert store.count_notes() == 255 and store.lexical.count("note") == 255
        assert store.sync_lexical() == {"added": 0, "removed": 0}  # nothing for the repair on open to do
        server.embeddings_ok = None
        r = cli("memory", "import", "half", str(path), env=env)
        assert r.returncode == 0, r.stderr
        assert "Imported 345 note(s) into half (256 already there)." in r.stdout
        store = open_memory(Workspace.open(home, "half"), s)
        assert store.count_notes() == 600 and store.lexical.count("note") == 600


def test_sigkill_during_import_leaves_a_store_that_opens_and_answers(home, tmp_path):
    path = tmp_path / "big.jsonl"
    total = 1200
    write_notes(path, total)
    proc = warm.Popen([sys.executable, "-m", "agent_scientist", "memory", "import", "killed", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(home),
                            cwd=home.parent)
    first = proc.stdout.readline()  # the first batch is stored; the next one is being embedded
    assert first.startswith("imported 256/"), first + proc.stderr.read()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    s = load_settings({"home": str(home)})
    ws = Workspace.open(home, "killed")
    store = open_memory(ws, s)
    stored = store.count_notes()
    assert 256 <= stored < total
    hits = store.recall("topic 5 value", k=3)
    assert len(hits) == 3 and all(h["kind"] == "result" for h in hits)
    # Importing again completes the store without copies.
    done = warm.run([sys.executable, "-m", "agent_scientist", "memory", "import", "killed", str(path)],
                          capture_output=True, text=True, env=cli_env(home), cwd=home.parent)
    assert done.returncode == 0, done.stderr
    assert len(read_notes(ws, s)) == total
