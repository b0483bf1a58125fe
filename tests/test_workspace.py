"""Workspace durability: atomic metadata, flushed steps, tolerant loading, the lock."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from agent_scientist.fsio import append_jsonl, read_jsonl
from agent_scientist.workspace import Workspace, WorkspaceError, WorkspaceLocked, slugify, unique_name


def test_create_layout_and_meta(home):
    ws = Workspace.create(home, "w1", "Does X improve Y?")
    for sub in ("files", "papers", "memory"):
        assert (ws.root / sub).is_dir()
    meta = json.loads(ws.meta_path.read_text())
    assert meta["status"] == "created" and meta["question"] == "Does X improve Y?" and meta["version"] == 1


def test_name_clash_and_bad_names(home):
    Workspace.create(home, "w1")
    with pytest.raises(WorkspaceError, match="already exists"):
        Workspace.create(home, "w1")
    for bad in ("../x", "", "a/b", ".hidden"):
        with pytest.raises(WorkspaceError, match="Invalid workspace name"):
            Workspace.create(home, bad)


def test_unknown_workspace_lists_known(home):
    Workspace.create(home, "alpha")
    with pytest.raises(WorkspaceError, match="alpha"):
        Workspace.open(home, "beta")


def test_corrupt_meta_is_reported_and_left_alone(home):
    ws = Workspace.create(home, "w1")
    ws.meta_path.write_text('{"name": "w1", "stat')
    with pytest.raises(WorkspaceError, match="not valid JSON"):
        Workspace.open(home, "w1")
    assert ws.meta_path.read_text() == '{"name": "w1", "stat'


def test_truncated_last_step_line_is_tolerated_and_next_append_is_clean(home):
    ws = Workspace.create(home, "w1")
    ws.append_step({"type": "action", "step": 1, "tokens_in": 5})
    with open(ws.steps_path, "a") as fh:
        fh.write('{"type": "action", "step": 2, "obs')  # a writer killed mid-line
    assert [r["step"] for r in ws.steps()] == [1]
    ws.append_step({"type": "action", "step": 2, "tokens_in": 7})
    assert [r["step"] for r in ws.steps()] == [1, 2]
    assert ws.reconcile()["tokens_in"] == 12


def test_counters_follow_steps(home):
    ws = Workspace.create(home, "w1")
    ws.append_step({"type": "action", "step": 1, "tokens_in": 10, "tokens_out": 2, "cost_usd": 0.5})
    ws.append_step({"type": "planning", "step": 2, "tokens_in": 1, "tokens_out": 1, "cost_usd": 0.25})
    meta = Workspace.open(home, "w1").meta
    assert (meta["steps"], meta["tokens_in"], meta["tokens_out"], meta["cost_usd"]) == (1, 11, 3, 0.75)


def test_final_answer_is_the_latest(home):
    ws = Workspace.create(home, "w1")
    assert ws.final_answer() is None
    ws.append_step({"type": "action", "step": 1, "final_answer": "first"})
    ws.append_step({"type": "action", "step": 2, "final_answer": "second"})
    assert ws.final_answer() == "second"


def _hold_lock(root, ready):
    ws = Workspace(root)
    with ws.lock():
        ready.set()
        time.sleep(60)


def test_lock_blocks_a_live_holder_and_not_a_dead_one(home):
    ws = Workspace.create(home, "w1")
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(ws.root, ready))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(WorkspaceLocked, match=str(holder.pid)):
            with ws.lock():
                pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
    with ws.lock():  # the dead holder's lock is gone with it
        pass


def test_jsonl_append_survives_a_missing_newline(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"a": 1}\n{"b": ')
    append_jsonl(path, {"c": 3})
    assert read_jsonl(path) == [{"a": 1}, {"c": 3}]


def test_slug_and_unique_names(home):
    assert slugify("Does X improve Y? (2024)") == "does-x-improve-y-2024"
    assert slugify("???") == "research"
    Workspace.create(home, "does-x-improve-y")
    assert unique_name(home, "Does X improve Y?") == "does-x-improve-y-2"


def test_paths_are_absolute_even_for_a_relative_home(home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ws = Workspace.create(Path("rel-home"), "w1")
    assert ws.root.is_absolute() and ws.files_dir == (tmp_path / "rel-home" / "w1" / "files").resolve()
    assert Workspace.open(Path("rel-home"), "w1").root == ws.root
