"""The markdown report: golden files for a full, an interrupted, a paper-less and a hostile workspace."""

from __future__ import annotations

import re
from pathlib import Path

from support.golden import check_golden
from support.report_ws import ANSWER, NOTES, add_paper, add_run, add_step, freeze, full_workspace, png_bytes

from agent_scientist.report import build_markdown, render, write_report
from agent_scientist.workspace import Workspace

HOSTILE = """\
<script>alert(1)</script>
<img src=x onerror=alert(1)>
<!-- a hidden comment -->
<a id="ref-1"></a><iframe src="http://evil.example"></iframe>
Click [here](javascript:alert(1)) or [there](http://evil.example/x "title") and ![pixel](http://evil.example/p.png).
Nested [a [b] c](http://evil.example) and [x](<http://evil.example>) and <http://evil.example/auto>.
Reference style [click][1], [collapsed][] and [shortcut].

[1]: http://evil.example/ref
[collapsed]: http://evil.example/c
[shortcut]: http://evil.example/s
Bare http://evil.example/bare, www.evil.example and `<kept in code>` but \\`<b>not code</b>`.
Workspace files: ![plot](runs/1/accuracy.png) [metrics](files/runs/1/metrics.json)
Escapes: ![up](../../../etc/passwd) [meta](../workspace.json) [abs](/etc/passwd)
An arXiv link [the paper](https://arxiv.org/abs/2401.01234v2), [arXiv:2312.00001](https://arxiv.org/abs/2312.00001).
&lt;script&gt; &#60;b&#62;
# A heading that must nest
| a | b |
|---|---|
""" + "\n".join(f"| row {i} | <b>{i}</b> |" for i in range(300)) + """

| """ + " | ".join(f"c{i}" for i in range(30)) + " |\n|" + "---|" * 30 + "\n| " + " | ".join("x" * 30) + """ |

~~~
an unclosed fence <script>
"""


def interrupted_workspace(home: Path) -> Workspace:
    ws = Workspace.create(home, "interrupted", "Is attention all you need?")
    add_paper(ws, "1706.03762v7", "Attention Is All You Need", ["Ashish Vaswani", "Noam Shazeer"], 2017,
              pages=15)
    add_run(ws, 1, "probe.py", ["--heads", "8"], 0, 3.0, {"bleu": 27.3}, {"curve.png": png_bytes()})
    ws.append_step({"type": "run_start", "step": 0, "task": ws.question, "instruction": None})
    add_step(ws, 1)
    add_step(ws, 2)
    ws.append_step({"type": "run_end", "step": 2, "status": "interrupted", "reason": "interrupted by the user"})
    freeze(ws, status="interrupted", stop_reason="interrupted by the user", models={"planner": "openai/gpt-4o"})
    return ws


def no_papers_workspace(home: Path) -> Workspace:
    ws = Workspace.create(home, "nopapers", "What is 2+2?")
    add_step(ws, 1, final_answer="It is 4 [arXiv:2401.01234 p.2], as everyone knows [local:deadbeef].")
    freeze(ws, status="completed", models={"planner": "ollama/qwen3"})
    return ws


def hostile_workspace(home: Path) -> Workspace:
    return full_workspace(home, "hostile", answer=HOSTILE)


def test_full_report_golden(home: Path) -> None:
    ws = full_workspace(home)
    report = build_markdown(ws, NOTES)
    check_golden("report_full.md", report.text)
    assert not report.partial
    assert [u["label"] for u in report.index.unverified()] == ["U1", "U2", "U3", "U4", "U5", "U6"]


def test_full_report_content(home: Path) -> None:
    text = build_markdown(full_workspace(home), NOTES).text
    refs = text[text.index("## References"):]
    # Only cited papers, numbered in order of first citation; the uncited one is counted, not listed.
    assert re.findall(r"^(\d+)\. <a id=\"ref-(\d+)\"></a>", refs, re.M) == [("1", "1"), ("2", "2"), ("3", "3"),
                                                                            ("4", "4")]
    assert "Never Cited" not in text and "1 other paper in the workspace was not cited" in text
    assert "(https://arxiv.org/abs/2401.01234v2)" in refs
    answer = text[text.index("## Answer"):text.index("## Key findings")]
    assert "2501.99999" not in answer and "p.40" not in answer and "Smith" not in answer
    assert answer.count("[citation removed: U1](#unverified-citations)") == 2
    assert "[1, p.3](#ref-1)" in answer and "[1, pp.5-6](#ref-1)" in answer
    assert "![Accuracy by dropout rate](files/runs/1/accuracy.png)" in answer
    assert "![Run 1: runs/1/accuracy.png](files/runs/1/accuracy.png)" in text
    assert "An old finding" not in text and "narrower terms" not in text  # superseded, and a lesson
    assert "| 3 | sweep.py |  | timed out | 600.0 s |  |" in text


def test_same_workspace_same_bytes(home: Path) -> None:
    ws = full_workspace(home)
    first = build_markdown(ws, NOTES).text
    again = build_markdown(Workspace.open(home, ws.name), list(reversed(NOTES))).text
    assert first == again


def test_interrupted_workspace_is_partial(home: Path) -> None:
    ws = interrupted_workspace(home)
    report = build_markdown(ws, [])
    check_golden("report_interrupted.md", report.text)
    assert report.partial
    assert "> **Partial report.**" in report.text and "No final answer was given" in report.text
    assert "interrupted by the user" in report.text


def test_workspace_without_papers(home: Path) -> None:
    report = build_markdown(no_papers_workspace(home), [])
    check_golden("report_nopapers.md", report.text)
    assert "*The workspace holds no papers.*" in report.text
    assert len(report.index.unverified()) == 2


def test_hostile_answer_is_inert(home: Path) -> None:
    text = build_markdown(hostile_workspace(home), []).text
    check_golden("report_hostile.md", text)
    outside_code = re.sub(r"```.*?```|~~~.*?~~~|(`+)[^`\n]*?\1", "", text, flags=re.S)
    allowed_html = re.compile(r'<a id="(ref-\d+|unverified-citations)"></a>')
    assert not re.search(r"<(?!a id=)", allowed_html.sub("", outside_code)), "raw HTML survived"
    targets = re.findall(r"(?<!\\)\]\(([^)]*)\)", outside_code)
    assert targets and all(t.startswith(("#ref-", "#unverified-citations", "files/", "https://arxiv.org/abs/"))
                           for t in targets), targets
    assert not re.search(r"^ {0,3}\[[^\]\\]+\]:", outside_code, re.M), "a reference definition survived"
    assert "javascript:alert" not in outside_code
    assert "### A heading that must nest" in text
    assert "250 more rows omitted" in text and "columns past the first 20 omitted" in text
    answer = text[text.index("## Answer"):text.index("## Key findings")]
    assert answer.rstrip().endswith("~~~"), "the unclosed fence was not closed"
    assert "## Key findings" in text.split("~~~")[-1]


def test_links_follow_the_report_location(home: Path, settings) -> None:
    ws = full_workspace(home)
    out = home.parent / "exports" / "r.md"
    result = write_report(ws, settings, output=out)
    assert result.path == out and out.read_text() == result.text
    assert "](../workspaces/full/files/runs/1/accuracy.png)" in result.text
    assert not ws.report_path.exists()


def test_memory_unavailable_is_said(home: Path) -> None:
    text = render(full_workspace(home), None, notes_error="store locked").text
    assert text.count("*Memory unavailable: notes could not be read (store locked).*") == 2


def test_answer_fixture_is_the_documented_mix() -> None:
    # good, duplicated, unknown and out-of-range citations, with and without versions, several per bracket
    assert "[arXiv:2401.01234 p.3]" in ANSWER and ANSWER.count("[arXiv:2501.99999]") == 2
    assert "p.40" in ANSWER and "v2, p. 5-6" in ANSWER and ";" in ANSWER and "[local:" in ANSWER


def test_hostile_notes_stay_on_their_line(home: Path) -> None:
    notes = [{"id": "h1", "kind": "finding", "status": "active", "source": "<b>x</b>", "page": 0,
              "text": "```python\n# not a heading\n<script>x</script> [a](http://evil.example) [arXiv:2401.01234 p.3]",
              "created_at": "2026-03-01T10:00:00+00:00"}]
    text = build_markdown(full_workspace(home), notes).text
    findings = text[text.index("## Key findings"):text.index("## Experiments")]
    assert findings == ("## Key findings\n\n- **Finding:** ```python # not a heading &lt;script>x&lt;/script> "
                        "a *(link removed: `http://evil.example`)* [[1, p.3](#ref-1)] *(source: \\<b\\>x\\</b\\>)*\n\n")
