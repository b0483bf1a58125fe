"""`agent-scientist export` in a real subprocess: defaults, formats, errors, partial runs, memory notes."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli_env
from support.report_ws import add_step, freeze, full_workspace

from agent_scientist.workspace import Workspace


def test_markdown_by_default_to_report_md_and_stdout(home: Path, cli) -> None:
    ws = full_workspace(home)
    result = cli("export", "full")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ws.report_path.read_text(encoding="utf-8")
    assert result.stdout.startswith("# Does dropout improve calibration on small datasets?\n")
    assert "5 unverified citation(s)" in result.stderr  # no memory here: the note's bad source is absent
    assert "partial" not in result.stderr
    again = cli("export", "full")
    assert again.stdout == result.stdout  # same workspace, same bytes


def test_formats_and_output(home: Path, cli) -> None:
    full_workspace(home)
    as_json = cli("export", "full", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["workspace"]["name"] == "full" and doc["notes"] == []
    out = home.parent / "refs.bib"
    bib = cli("export", "full", "--format", "bibtex", "--output", str(out))
    assert bib.returncode == 0, bib.stderr
    assert bib.stdout == "" and out.read_text().count("@misc{") == 4
    assert not (home / "full" / "report.md").exists()
    md = cli("export", "full", "-o", str(home.parent / "elsewhere" / "r.md"))
    assert md.returncode == 0 and "](../workspaces/full/files/runs/1/accuracy.png)" in (
        home.parent / "elsewhere" / "r.md").read_text()


def test_usage_errors_exit_2(home: Path, cli) -> None:
    full_workspace(home)
    unknown = cli("export", "nope")
    assert unknown.returncode == 2 and "No workspace named 'nope'" in unknown.stderr
    bad = cli("export", "full", "--format", "pdf")
    assert bad.returncode == 2 and "Unknown format 'pdf'" in bad.stderr
    assert not (home / "full" / "report.md").exists()


def test_interrupted_workspace_exports_a_partial_report(home: Path, cli) -> None:
    ws = Workspace.create(home, "stopped", "Why is the sky blue?")
    add_step(ws, 1)
    ws.append_step({"type": "run_end", "step": 1, "status": "interrupted", "reason": "SIGTERM"})
    freeze(ws, status="interrupted")
    result = cli("export", "stopped")
    assert result.returncode == 0, result.stderr
    assert "> **Partial report.**" in result.stdout and "No final answer was given" in result.stdout
    assert "partial" in result.stderr


def test_notes_added_with_memory_add_appear_in_the_report(home: Path, cli) -> None:
    full_workspace(home)
    for args in (["Calibration error falls with dropout.", "--kind", "finding", "--source", "arXiv:2401.01234v2",
                  "--page", "3"],
                 ["Accuracy rose by 5 points.", "--kind", "result", "--source", "run:1"],
                 ["Claimed by a paper never read.", "--kind", "finding", "--source", "arXiv:2601.00000"],
                 ["Does it hold on ImageNet?", "--kind", "question"],
                 ["Rerun with 5 seeds.", "--kind", "todo"]):
        added = cli("memory", "add", "full", *args)
        assert added.returncode == 0, added.stderr
    result = cli("export", "full")
    assert result.returncode == 0, result.stderr
    findings = result.stdout[result.stdout.index("## Key findings"):result.stdout.index("## Experiments")]
    assert "Calibration error falls with dropout. *(source: [[1, p.3](#ref-1)])*" in findings
    assert "Accuracy rose by 5 points. *(source: run:1)*" in findings
    assert "[citation removed: U6](#unverified-citations)" in findings
    opens = result.stdout[result.stdout.index("## Open questions"):result.stdout.index("## References")]
    assert "**Question:** Does it hold on ImageNet?" in opens and "**To do:** Rerun with 5 seeds." in opens
    assert "6 unverified citation(s)" in result.stderr
    assert cli("export", "full").stdout == result.stdout


def test_unreachable_memory_says_so(home: Path, cli) -> None:
    full_workspace(home)
    result = cli("export", "full", env=cli_env(home, AGENT_SCIENTIST_MEMORY_URL="http://127.0.0.1:1"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("*Memory unavailable: notes could not be read") == 2
    assert "Memory unavailable" in result.stderr
