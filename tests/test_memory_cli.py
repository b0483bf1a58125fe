"""`agent-scientist memory ...` as a user runs it, including a SIGKILL in the middle of an import."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from conftest import cli_env
from support import warm

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
