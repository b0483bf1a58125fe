"""Passages of a paper are indexed after read_paper answers, and are there whenever they are needed:
for read_paper(query=...), for recall, and in the next process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agent_scientist.config import load_settings
from agent_scientist.memory import open_memory
from agent_scientist.workspace import Workspace

CHUNKS = [{"text": f"Passage {i} about label smoothing and calibration error number {i}.",
           "page_start": i + 1, "page_end": i + 1} for i in range(12)]


def test_background_passages_are_waited_for_by_every_reader(home):
    ws = Workspace.create(home, "w", "Q?")
    store = open_memory(ws, load_settings({"home": str(home)}))
    store.add_passages_later("2401.00001v1", CHUNKS)
    assert store.has_passages("2401.00001v1")  # queued counts: a second read does not index it again
    hits = store.search_passages("label smoothing calibration", 12, "2401.00001v1")
    assert len(hits) == 12
    assert any(r["kind"] == "passage" for r in store.recall("calibration error number 3", 5))


def test_the_process_finishes_indexing_before_it_exits(home):
    script = (
        "import sys; from agent_scientist.config import load_settings; from agent_scientist.memory import "
        "open_memory; from agent_scientist.workspace import Workspace\n"
        f"chunks = {CHUNKS!r}\n"
        "ws = Workspace.create(sys.argv[1], 'w', 'Q?')\n"
        "open_memory(ws, load_settings({'home': sys.argv[1]})).add_passages_later('2401.00001v1', chunks)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(home)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    store = open_memory(Workspace.open(home, "w"), load_settings({"home": str(home)}))
    assert store.has_passages("2401.00001v1")
    assert int(store.passages.count()) == 12


def test_an_index_cut_short_is_redone(home):
    ws = Workspace.create(home, "w", "Q?")
    store = open_memory(ws, load_settings({"home": str(home)}))
    store.add_passages("2401.00001v1", CHUNKS)
    store.passages.delete(ids=["2401.00001v1#11"])  # as if killed before the last batch
    assert not store.has_passages("2401.00001v1")
    store.add_passages_later("2401.00001v1", CHUNKS)
    store.wait_indexed()
    assert store.has_passages("2401.00001v1") and int(store.passages.count()) == 12


def test_after_an_interrupt_the_exit_waits_only_what_is_left_of_the_grace(home):
    """The planner loop sets ctx.exit_by after Ctrl-C; passages still being indexed are then left (and redone
    when next read) instead of holding the process for end_of_run_timeout (15 s)."""
    script = (
        "import sys, time\n"
        "from agent_scientist.config import load_settings\n"
        "from agent_scientist.contracts import ToolContext\n"
        "from agent_scientist.workspace import Workspace\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from support.memory_box import memory_box\n"
        "ws = Workspace.create(sys.argv[1], 'w', 'Q?')\n"
        "run, _ = memory_box(ToolContext(ws=ws, settings=load_settings({'home': sys.argv[1]})))\n"
        "chunks = [{'text': f'Passage {i} on label smoothing, calibration and the error of model {i}.', "
        "'page_start': i + 1} for i in range(3000)]\n"
        "run.memory.add_passages_later('2401.00001v1', chunks)\n"
        "run.ctx.exit_by = time.monotonic()  # as after Ctrl-C, its grace spent\n"
    )
    tests = str(Path(__file__).parent)
    done = subprocess.run([sys.executable, "-c", script, str(home), tests], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "passages of 1 paper(s) not indexed within 0 s" in done.stderr
    store = open_memory(Workspace.open(home, "w"), load_settings({"home": str(home)}))
    assert not store.has_passages("2401.00001v1")  # cut short: the next read indexes it again
