"""Workspaces for the report tests, built on disk through the real Workspace API and the shared contracts.

Timestamps are fixed so exported reports can be compared byte for byte with golden files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_scientist.fsio import atomic_write_bytes, atomic_write_json
from agent_scientist.papers import visuals
from agent_scientist.papers.layout import paper_dir
from agent_scientist.workspace import Workspace

T0 = "2026-03-01T10:00:00+00:00"


def stamp(minute: int) -> str:
    return f"2026-03-01T10:{minute:02d}:00+00:00"


def png_bytes(width: int = 8, height: int = 6) -> bytes:
    """A tiny real PNG drawn with pymupdf."""
    import pymupdf

    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, width, height), False)
    pix.set_rect(pix.irect, (30, 120, 200))
    return pix.tobytes("png")


def add_paper(ws: Workspace, paper_id: str, title: str, authors: list[str], year: int | None = 2024,
              pages: int = 10, primary: str = "cs.LG", pages_json: int | None = None) -> dict[str, Any]:
    """meta.json (and pages.json when pages_json is given) as the papers capability writes them."""
    local = paper_id.startswith("local:")
    meta = {
        "id": paper_id, "source": "local" if local else "arxiv", "title": title, "authors": authors,
        "published": f"{year}-01-15" if year else "", "year": year,
        "categories": [] if local else [primary], "primary_category": "" if local else primary,
        "abstract": f"Abstract of {title}.",
        "pdf_url": "" if local else f"https://arxiv.org/pdf/{paper_id}",
        "abs_url": "" if local else f"https://arxiv.org/abs/{paper_id}",
        "file": "paper.pdf", "pages": pages, "added_at": T0,
    }
    if local:
        meta["original_path"] = "/data/my-notes.pdf"
    folder = paper_dir(ws, paper_id)
    atomic_write_json(folder / "meta.json", meta)
    atomic_write_bytes(folder / "paper.pdf", b"%PDF-1.4\n% placeholder\n")
    if pages_json is not None:
        atomic_write_json(folder / "pages.json", {"pages": [f"page {i + 1}" for i in range(pages_json)],
                                                  "outline": [], "captions": []})
    return meta


def add_visuals(ws: Workspace, paper_id: str, figures: tuple[int, ...] = (), tables: tuple[int, ...] = (),
                pages: list[int] | None = None) -> None:
    """The placeholder PDF has no tables or figures: record what an extraction would have found (records.Visuals;
    a table on `pages`, default p.1; a figure drawn on the first of them, its caption on the last)."""
    on = pages or [1]
    atomic_write_json(paper_dir(ws, paper_id) / visuals.FILE, {
        "version": visuals.VERSION,
        "tables": [{"number": n, "page": on[0], "pages": on, "caption": f"Table {n}: numbers.", "rows": [["a", "b"]],
                    "header_rows": 1} for n in tables],
        "figures": [{"number": n, "page": on[0], "caption_page": on[-1], "caption": f"Figure {n}: a plot.",
                     "text": "", "kind": "vector", "bbox": [72.0, 72.0, 300.0, 240.0]} for n in figures]})


def add_step(ws: Workspace, step: int, final_answer: str | None = None, **extra: Any) -> None:
    record = {"type": "action", "step": step, "started_at": stamp(step), "ended_at": stamp(step) .replace(":00+", ":30+"),
              "duration_s": 30.0, "model_output": "Thought: next.", "code": "print(1)", "observation": "1",
              "error": None, "tokens_in": 1000, "tokens_out": 100, "cost_usd": 0.0125, **extra}
    if final_answer is not None:
        record["final_answer"] = final_answer
    ws.append_step(record)


def add_run(ws: Workspace, n: int, script: str, args: list[str], exit_code: int | None, duration: float,
            metrics: dict | None, artifacts: dict[str, bytes], timed_out: bool = False) -> None:
    """A runs.jsonl record plus its artifact files under files/runs/<n>/."""
    paths = []
    for name, data in sorted(artifacts.items()):
        rel = f"runs/{n}/{name}"
        atomic_write_bytes(ws.files_dir / rel, data)
        paths.append(rel)
    ws.append_run({"run": n, "script": script, "args": args, "command": ["python", script, *args],
                   "started_at": stamp(n), "duration_s": duration, "exit_code": exit_code, "timed_out": timed_out,
                   "artifacts": paths, "metrics": metrics, "output_dir": f"runs/{n}",
                   "protections": {"network": True}, "step": n})


def freeze(ws: Workspace, **fields: Any) -> None:
    """Rewrite workspace.json with fixed timestamps (Workspace.update stamps the current time)."""
    meta = {**ws.meta, "created_at": T0, "updated_at": stamp(59), **fields}
    atomic_write_json(ws.meta_path, meta)
    ws._meta = None


ANSWER = """\
Dropout improves calibration on small datasets [arXiv:2401.01234 p.3]. This agrees with earlier
work [arXiv:2312.00001v1; arXiv:2401.01234v2, p. 5-6] and is repeated here [arXiv:2401.01234 p.3].

An old result [arXiv:hep-th/9901001 p.2] and the lab notes [local:ab12cd34 p.4] agree; see also
https://arxiv.org/abs/2312.00001 and [arXiv:2401.01234, Table 2].

Some claims cannot be backed: [arXiv:2501.99999], [arXiv:2401.01234 p.40], [arXiv:2312.00001 p.0],
[arXiv:hep-th/9901001 p.4] and [Smith et al., 2020]; the unknown one again [arXiv:2501.99999].

# Results

| Model | Accuracy |
|---|---|
| baseline | 0.81 |
| dropout | 0.86 |

![Accuracy by dropout rate](runs/1/accuracy.png)

```python
print("<b>kept as code</b>")
```
"""

NOTES = [
    {"id": "n1", "text": "Dropout 0.1 lifts accuracy by 5 points.", "kind": "result", "status": "active",
     "source": "run 1", "page": None, "tags": [], "step": 2, "created_at": stamp(2), "updated_at": stamp(2)},
    {"id": "n2", "text": "Calibration error falls with dropout.", "kind": "finding", "status": "active",
     "source": "arXiv:2401.01234v2", "page": 3, "tags": ["calibration"], "step": 1, "created_at": stamp(1),
     "updated_at": stamp(1)},
    {"id": "n3", "text": "A claim from a paper never read.", "kind": "finding", "status": "active",
     "source": "arXiv:2601.00000", "page": None, "tags": [], "step": 2, "created_at": stamp(3),
     "updated_at": stamp(3)},
    {"id": "n4", "text": "An old finding.", "kind": "finding", "status": "superseded", "source": "",
     "page": None, "tags": [], "step": 1, "created_at": stamp(0), "updated_at": stamp(0)},
    {"id": "n5", "text": "Does the effect hold on ImageNet?", "kind": "question", "status": "active",
     "source": "", "page": None, "tags": [], "step": 3, "created_at": stamp(4), "updated_at": stamp(4)},
    {"id": "n6", "text": "Rerun with 5 seeds.", "kind": "todo", "status": "active", "source": "local:ab12cd34",
     "page": 2, "tags": [], "step": 3, "created_at": stamp(5), "updated_at": stamp(5)},
    {"id": "n7", "text": "Search with narrower terms first.", "kind": "lesson", "status": "active",
     "source": "", "page": None, "tags": [], "step": 3, "created_at": stamp(6), "updated_at": stamp(6)},
]


def full_workspace(home: Path, name: str = "full", answer: str = ANSWER) -> Workspace:
    """Papers, runs with a figure, three steps and an answer with good and bad citations."""
    ws = Workspace.create(home, name, "Does dropout improve calibration on small datasets?")
    add_paper(ws, "2401.01234v2", "Dropout and Calibration", ["Ada Lovelace", "Alan Turing"], 2024, pages=12)
    add_paper(ws, "2312.00001v1", "Small Data, Big Models", ["Grace Hopper"], 2023, pages=5, primary="stat.ML")
    add_paper(ws, "hep-th/9901001v1", "An Old Result", ["Émile Noether"], 1999, pages=0, primary="hep-th",
              pages_json=3)
    add_paper(ws, "local:ab12cd34", "Lab Notes", ["Marie Curie"], None, pages=4)
    add_paper(ws, "2405.09999v1", "Never Cited", ["Nobody Here"], 2024, pages=8)
    add_visuals(ws, "2401.01234v2", tables=(2,), pages=[4])
    add_run(ws, 1, "train.py", ["--dropout", "0.1"], 0, 12.34, {"accuracy": 0.86123, "loss": 0.41},
            {"accuracy.png": png_bytes(), "metrics.json": b'{"accuracy": 0.86123}\n'})
    add_run(ws, 2, "train.py", ["--dropout", "0.5", "--note", "a|b"], 1, 0.5, None, {})
    add_run(ws, 3, "sweep.py", [], None, 600.0, None, {"log.txt": b"slow\n"}, timed_out=True)
    ws.append_step({"type": "run_start", "step": 0, "task": ws.question, "instruction": None})
    add_step(ws, 1)
    add_step(ws, 2)
    add_step(ws, 3, final_answer=answer)
    ws.append_step({"type": "run_end", "step": 3, "status": "completed", "reason": "final answer"})
    freeze(ws, status="completed", models={"planner": "openai/gpt-4o-mini", "worker": "ollama/qwen3"})
    return ws


PAPER_ANSWER = """\
Dropout improves calibration on small datasets [arXiv:2401.01234 p.3], as measured by $\\mathrm{ECE} = \\sum_{b} \\frac{|B_b|}{n} |acc(B_b) - conf(B_b)|$
with $\\alpha \\leq 0.5$ and $x_{i}^{2} \\geq \\{1, 2\\}$; earlier work agrees [arXiv:2312.00001v1 p.2, fig.1].

## Method

Every character TeX and Typst treat specially: 50% & more, snake_case, #hash, a lone $5 fee, {braces}, ~tilde,
x^y, back\\slash, *stars*, @at, <angle>, [brackets], `code`, Émile, α-ß, ≤ ≥ ≈ ∞ —dashes— “quotes”, 日本, ✓.
A risky formula $\\input{/etc/passwd} \\write18{ls}$ and an open one $a^^5c$ are set inert.

| Model | Accuracy % |
|---|---|
| baseline_a | 81 & up |
| dropout #2 | 86 |

![Accuracy by dropout rate](runs/1/accuracy.png)

Unbacked: [arXiv:2501.99999]; a paper table [arXiv:2401.01234, Table 2].
"""


def plot_png(seed: int, width: int = 320, height: int = 200) -> bytes:
    """A real plot-like PNG: axes and a polyline drawn by pymupdf, different per seed."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page(width=width, height=height)
    page.draw_rect(pymupdf.Rect(30, 10, width - 10, height - 30), color=(0, 0, 0))
    points = [pymupdf.Point(30 + i * (width - 40) / 9, height - 40 - ((i * 37 + seed * 11) % 120)) for i in range(10)]
    page.draw_polyline(points, color=((seed * 0.13) % 1, 0.3, 0.8), width=2)
    page.insert_text((40, height - 10), f"plot {seed}", fontsize=11)
    return page.get_pixmap(dpi=72).tobytes("png")


def paper_workspace(home: Path, name: str = "paper", status: str = "completed",
                    answer: str | None = PAPER_ANSWER) -> Workspace:
    """A research workspace for the paper export: cited papers with pages, runs with plots, math and specials."""
    ws = Workspace.create(home, name, "Does dropout improve calibration on small datasets? (50% & $5_x)")
    add_paper(ws, "2401.01234v2", "Dropout and Calibration", ["Ada Lovelace", "Alan Turing"], 2024, pages=12)
    add_paper(ws, "2312.00001v1", "Small Data & Big_Models: 100% #1", ["Émile Noether"], 2023, pages=5)
    add_visuals(ws, "2312.00001v1", figures=(1,), pages=[2])  # the answer cites its p.2, fig.1
    add_visuals(ws, "2401.01234v2", tables=(2,))  # and its Table 2
    add_run(ws, 1, "train.py", ["--dropout", "0.1"], 0, 12.3, {"accuracy": 0.86, "ece_%": 0.031},
            {"accuracy.png": plot_png(1), "curve.png": plot_png(2)})
    add_run(ws, 2, "train.py", ["--dropout", "0.5"], 0, 11.0, {"accuracy": 0.84}, {"calib.png": plot_png(3)})
    ws.append_step({"type": "run_start", "step": 0, "task": ws.question, "instruction": None})
    add_step(ws, 1)
    if answer is not None:
        add_step(ws, 2, final_answer=answer)
    if status == "completed":
        ws.append_step({"type": "run_end", "step": 2, "status": "completed", "reason": "final answer"})
    freeze(ws, status=status, models={"planner": "openai/gpt-4o-mini"})
    return ws


SPECIAL_TABLE = ("Table 4: Cells that are TeX {and} Typst #markup.", [["Name", "Value"]],
                 [["a_b", "50% & #1"], ["\\input{x}", "$y$ ~z^"], ["[link](x) *em*", "<b>@ref</b>"]], "ruled")


def visual_workspace(home: Path, pdf_dir: Path, name: str = "visual") -> tuple[Workspace, str]:
    """A completed workspace whose answer cites a vector and a raster figure and two tables of a real
    generated paper (extracted by papers/visuals.py), one table full of characters TeX and Typst treat specially."""
    from agent_scientist.config import load_settings
    from agent_scientist.papers.store import ingest_pdfs
    from support import pdfs

    ws = Workspace.create(home, name, "Which widget is most accurate?")
    path = pdf_dir / "visual.pdf"
    path.write_bytes(pdfs.make_visual_paper([*pdfs.VISUAL_TABLES[:1], SPECIAL_TABLE], split_table=False))
    (added,) = ingest_pdfs(ws, load_settings({"home": str(home)}), [path])
    pid = str(added["id"])
    ws.append_step({"type": "run_start", "step": 0, "task": ws.question, "instruction": None})
    add_step(ws, 1, final_answer=f"Sparse is best at 12.05 [{pid} tab.1]; the loss flattens [{pid} fig.1] and the "
                                 f"heat map agrees [{pid} p.2, fig.2]; the odd cells are in [{pid} tab.4]. Again "
                                 f"[{pid} fig.1].\n")
    ws.append_step({"type": "run_end", "step": 1, "status": "completed", "reason": "final answer"})
    freeze(ws, status="completed")
    return ws, pid
