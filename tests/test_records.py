"""Typed records, and a workspace written by the first landing's code (tests/data/landing1) still loading.

tests/data/landing1 was written by commit f1bd5b0 (the first landing) through a real scripted run: a
search, an overview and a page read from the loopback arXiv server, a note in chromadb, an experiment in
the sandbox, a parse error, a final answer with citations, and its report.
"""

from __future__ import annotations

import json
import shutil
import typing
from pathlib import Path

import pytest
from support.scripted import ScriptedModel, code

from agent_scientist.agent import loop
from agent_scientist.capabilities import default_capabilities
from agent_scientist.config import load_settings
from agent_scientist.records import SCHEMA_VERSION, StepRecord, StepType
from agent_scientist.workspace import Workspace

LANDING1 = Path(__file__).parent / "data" / "landing1"


@pytest.fixture
def old(home: Path) -> Workspace:
    shutil.copytree(LANDING1, home / "landing1")
    return Workspace.open(home, "landing1")


def test_the_first_landings_records_load_as_typed_records(old: Workspace) -> None:
    assert old.meta["version"] == 1 and "v" not in old.meta and old.status == "completed"
    steps = old.steps()
    assert {s["type"] for s in steps} <= set(typing.get_args(StepType))
    assert all(set(s) <= set(StepRecord.__annotations__) for s in steps), "a field the record type does not name"
    assert [s["step"] for s in steps if s["type"] == "action"] == list(range(1, 9))
    assert old.runs()[0]["metrics"] == {"accuracy": 0.91}
    assert old.papers()[0]["id"] == "2401.00001v2" and old.papers()[0]["pages"] == 4


def test_commands_read_the_first_landings_workspace(old: Workspace, cli) -> None:
    listed = json.loads(cli("list", "--json").stdout)
    assert [(w["name"], w["status"], w["steps"]) for w in listed] == [("landing1", "completed", 8)]
    assert "Do sparse widgets improve gadget accuracy?" in cli("show", "landing1").stdout
    exported = cli("export", "landing1", "--output", "-")
    assert exported.returncode == 0, exported.stderr
    assert "Yes: sparse widgets improve accuracy [[1, p.2](#ref-1)]" in exported.stdout
    assert "Sparse widgets improve gadget accuracy" in exported.stdout and "citation removed" not in exported.stdout
    data = json.loads(cli("export", "landing1", "--format", "json", "--output", "-").stdout)
    assert data["papers"][0]["id"] == "2401.00001v2" and data["unverified"] == []
    assert "@misc{" in cli("export", "landing1", "--format", "bibtex", "--output", "-").stdout
    found = cli("memory", "search", "landing1", "widgets and accuracy", "--json")
    assert found.returncode == 0, found.stderr
    assert "Sparse widgets improve gadget accuracy" in found.stdout


def test_resume_continues_the_first_landings_run(old: Workspace, home: Path) -> None:
    settings = load_settings({"home": str(home), "model": "scripted/test"})
    model = ScriptedModel([code('final_answer("Still yes [arXiv:2401.00001 p.2]")')])
    outcome = loop.run(old, settings, model=model, worker_model=model, instruction="Check once more.",
                       capabilities=default_capabilities())
    assert outcome.status == "completed"
    steps = Workspace.open(home, "landing1").steps()
    new = [s for s in steps if s["type"] == "action"][-1]
    assert new["step"] == 9 and new["v"] == SCHEMA_VERSION
    assert "Sparse widgets" in model.calls[0] or "2401.00001" in model.calls[0]  # the replayed history
    assert Workspace.open(home, "landing1").meta["steps"] == 9


def test_every_package_is_installed_by_a_plain_pip_install() -> None:
    """pyproject.toml lists packages by hand (prompts/ is mapped in); a package missing there breaks `pip install .`."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(root).parts) for p in (root / "agent_scientist").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_every_key_written_on_a_record_is_declared() -> None:
    """records.py names every key the code writes (mypy checks the literal keys; these are the keys written
    from tables, which it cannot see)."""
    from typing import get_type_hints

    from agent_scientist.experiments.executors import Outcome
    from agent_scientist.papers.store import OPTIONAL_META, WORK_META
    from agent_scientist.records import PaperMeta, Placement, RunRecord, StepRecord

    paper_keys = set(get_type_hints(PaperMeta))
    assert set(OPTIONAL_META) | set(WORK_META) <= paper_keys
    assert {"id", "source", "title", "year", "primary_category", "abs_url", "full_text_note", "local_id"} <= paper_keys
    assert {"cut", "end_of_run_skipped", "final_answer"} <= set(get_type_hints(StepRecord))
    assert set(get_type_hints(Placement)) <= set(get_type_hints(RunRecord))
    assert {"gpus", "stopped", "error"} <= set(get_type_hints(RunRecord)) & {f for f in Outcome.__dataclass_fields__}
