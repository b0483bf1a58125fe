"""The markdown report: golden files for a full, an interrupted, a paper-less and a hostile workspace."""

from __future__ import annotations

import json
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


def test_answer_headings_sit_under_the_report_heading(home: Path) -> None:
    ws = Workspace.create(home, "headings", "q")
    add_step(ws, 1, final_answer="## Answer\n\nYes.\n\n## Evidence\n\n### Detail\n\n```\n# a comment\n```\n\n## Limits")
    freeze(ws, status="completed")
    text = build_markdown(ws, []).text
    answer = text[text.index("## Answer"):text.index("## Key findings")]
    # the model's own "## Answer" is not repeated; its level-2 headings become level 3, code is untouched
    assert answer == "## Answer\n\nYes.\n\n### Evidence\n\n#### Detail\n\n```\n# a comment\n```\n\n### Limits\n\n"


def test_figures_with_spaces_in_their_path(home: Path) -> None:
    ws = Workspace.create(home, "spaces", "q")
    add_run(ws, 1, "plot.py", [], 0, 1.0, None, {"ece curve.png": png_bytes()})
    add_step(ws, 1, final_answer="![a](<runs/1/ece curve.png>) ![b](runs/1/ece%20curve.png) "
                                 "![c](runs/1/ece curve.png) [d](no such file.png)")
    freeze(ws, status="completed")
    text = build_markdown(ws, []).text
    assert text.count("](files/runs/1/ece%20curve.png)") == 4  # the three answer images and the run's own
    assert "removed" not in text and "[d\\](no such file.png)" in text  # not a file: inert text
    ws2 = full_workspace(home, "escapes", answer="[a](<javascript:alert(1)>) ![b](<../workspace.json>) "
                                                 "[c](%2e%2e/workspace.json) [d](< /etc/passwd >)")
    answer = build_markdown(ws2, []).text.split("## Answer\n\n")[1].split("\n\n## Key")[0]
    assert answer == ("a *(link removed: `javascript:alert(1)`)* *(image removed: b, `../workspace.json`)* "
                      "c *(link removed: `%2e%2e/workspace.json`)* d *(link removed: `/etc/passwd`)*")


def test_run_output_and_replaced_artifacts(home: Path) -> None:
    """As the runner records them: artifacts are paths under files/, output in files/runs/<n>/."""
    from agent_scientist.fsio import atomic_write_bytes

    ws = Workspace.create(home, "reruns", "q")
    for n in (1, 2):
        for name in ("fig.png", "metrics.json"):
            atomic_write_bytes(ws.files_dir / name, png_bytes() if name.endswith("png") else b"{}\n")
        atomic_write_bytes(ws.files_dir / f"runs/{n}/stdout.txt", b"done\n")
        atomic_write_bytes(ws.files_dir / f"runs/{n}/stderr.txt", b"")
        add_run(ws, n, "exp.py", [f"--seed={n}"], 0, 1.0, {"seed": n}, {})
    runs = [json.loads(line) for line in ws.runs_path.read_text().splitlines()]
    for run in runs:
        run["artifacts"] = ["fig.png", "metrics.json"]
    ws.runs_path.write_text("".join(json.dumps(r) + "\n" for r in runs))
    freeze(ws, status="completed")
    text = build_markdown(ws, []).text
    experiments = text[text.index("## Experiments"):text.index("## Open questions")]
    assert ("**Run 1 artifacts:** [fig.png](files/fig.png) (since replaced by run 2), "
            "[metrics.json](files/metrics.json) (since replaced by run 2)\n\n"
            "**Run 1 output:** [stdout.txt](files/runs/1/stdout.txt)\n\n") in experiments
    assert ("**Run 2 artifacts:** [metrics.json](files/metrics.json)\n\n"
            "**Run 2 output:** [stdout.txt](files/runs/2/stdout.txt)\n\n"
            "![Run 2: fig.png](files/fig.png)") in experiments
    assert "stderr.txt" not in experiments  # empty output is not linked
    for target in re.findall(r"\]\(([^)#]+)\)", text):  # every link resolves from the report's folder
        assert (ws.root / target).is_file(), target


def test_partial_report_says_why_in_words_and_how_to_continue(home: Path) -> None:
    ws = Workspace.create(home, "limited", "q")
    add_step(ws, 1)
    ws.append_step({"type": "run_end", "step": 1, "status": "interrupted", "reason": "max_steps"})
    freeze(ws, status="interrupted", stop_reason="max_steps")
    text = build_markdown(ws, []).text
    assert "(stopped: max steps; the step limit (--max-steps) was reached)" in text
    assert "- **Status:** stopped: max steps (partial report)" in text
    assert "> Continue the run with `agent-scientist resume limited`, then export the report again." in text


def test_export_imports_neither_review_nor_the_live_view() -> None:
    """report/ renders what review recorded through records.py; export must not pull in rich or review/."""
    import subprocess
    import sys

    code = ("import sys, agent_scientist.report; "
            "print(sorted(m for m in sys.modules if m == 'rich' or m.startswith(('agent_scientist.review', "
            "'agent_scientist.agent'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
