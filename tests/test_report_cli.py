"""`agent-scientist export` in a real subprocess: defaults, formats, errors, partial runs, memory notes."""

from __future__ import annotations

import json
import re
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
    bad = cli("export", "full", "--format", "docx")
    assert bad.returncode == 2 and "Unknown format 'docx'" in bad.stderr
    assert not (home / "full" / "report.md").exists()


def test_interrupted_workspace_exports_a_partial_report(home: Path, cli) -> None:
    ws = Workspace.create(home, "stopped", "Why is the sky blue?")
    add_step(ws, 1)
    ws.append_step({"type": "run_end", "step": 1, "status": "interrupted", "reason": "SIGTERM"})
    freeze(ws, status="interrupted")
    result = cli("export", "stopped")
    assert result.returncode == 0, result.stderr
    assert "> **Partial report.**" in result.stdout and "No final answer was given" in result.stdout
    assert "Workspace 'stopped' has status interrupted and has no final answer: the report is marked partial" \
        in result.stderr


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


FIGURE_SCRIPT = '''\
import json, os, struct, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = b"".join(b"\\x00" + b"\\xc8\\x1e\\x1e" * 4 for _ in range(3))
png = (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
os.makedirs("figs", exist_ok=True)
open("figs/ece curve.png", "wb").write(png)
json.dump({"ece": 0.031}, open("metrics.json", "w"))
print("done")
'''


def test_report_of_a_real_research_run(home: Path, cli) -> None:
    """`research` end to end (loopback model and arXiv): every link in report.md resolves from its folder."""
    from support.arxiv_server import ArxivServer, entry
    from support.openai_server import ChatServer
    from support.pdfs import make_plain
    from support.scripted import code

    arxiv = ArxivServer([entry("2401.01234v2", "Label smoothing and calibration", authors=("Ada Lovelace",),
                               pdf=make_plain("Label smoothing lowers ECE.", pages=2))]).start()
    answer = ("## Answer\n\nIt helps [arXiv:2401.01234v2 p.1/2], see ![ECE](<figs/ece curve.png>) and "
              "[the metrics](metrics.json); not [arXiv:2401.01234 p.3] nor arXiv:9999.99999 p.2.")
    script = [
        code("print(read_paper('2401.01234', page=1))"),
        code("print(remember('Label smoothing lowers ECE.', source='arXiv:2401.01234v2', page=1))\n"
             "print(remember('Does it hold on ImageNet?', kind='question'))"),
        code(f"print(edit_file('create', 'exp.py', file_text={FIGURE_SCRIPT!r}))"),
        code("r = run_experiment('exp.py')\nprint(r['exit_code'], r['artifacts'])"),
        code(f"final_answer({answer!r})"),
    ]
    try:
        with ChatServer(script) as server:
            run = cli("research", "Does label smoothing improve calibration?", "--name", "real", "--model",
                      "openai/gpt-4o-mini", "--worker-model", "openai/worker", "--api-base", server.url, "--quiet",
                      env=cli_env(home, **arxiv.env()))
    finally:
        arxiv.stop()
    assert run.returncode == 0, run.stderr
    ws = Workspace.open(home, "real")
    report = ws.report_path.read_text(encoding="utf-8")
    assert "0 ['figs/ece curve.png', 'metrics.json']" in json.dumps(ws.steps())
    answer = report[report.index("## Answer"):report.index("## Key findings")]
    assert answer.count("Answer") == 1  # the model's own heading is not repeated
    assert "It helps [[1, p.1](#ref-1)], see ![ECE](files/figs/ece%20curve.png)" in answer
    assert answer.count("citation removed") == 2 and "p.3" not in answer and "9999" not in answer
    assert "- **Finding:** Label smoothing lowers ECE. *(source: [[1, p.1](#ref-1)])*" in report
    assert "- **Question:** Does it hold on ImageNet?" in report
    assert "| 1 | exp.py |  | 0 |" in report and "ece = 0.031" in report
    assert "**Run 1 output:** [stdout.txt](files/runs/1/stdout.txt)" in report
    assert "![Run 1: figs/ece curve.png](files/figs/ece%20curve.png)" in report
    assert "1. <a id=\"ref-1\"></a>Ada Lovelace. *Label smoothing and calibration*. 2024." in report
    from urllib.parse import unquote

    targets = re.findall(r"(?<!\\)\]\(([^)]+)\)", report)
    for target in targets:
        if target.startswith("#"):
            assert f'<a id="{target[1:]}"></a>' in report, target
        elif not target.startswith("https://arxiv.org/abs/"):
            assert (ws.root / unquote(target)).is_file(), target
    assert "2 citation(s) could not be verified" in run.stderr
    exported = cli("export", "real")  # another process, same bytes as the report research wrote
    assert exported.returncode == 0 and exported.stdout == report
