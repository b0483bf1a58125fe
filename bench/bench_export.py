"""The paper export's cost: `agent-scientist export NAME --format pdf` (Typst) of a workspace with 10 figures and
30 references, as a CLI process, timed against `export NAME` (markdown) of the same workspace in the same run;
also the LaTeX export and, where pdflatex is installed, `--engine latex`. Target: pdf under 3 s on 2 cores.

Usage: python bench/bench_export.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pymupdf

from agent_scientist.fsio import atomic_write_bytes, atomic_write_json
from agent_scientist.papers.layout import paper_dir
from agent_scientist.workspace import Workspace

FIGURES = 10
REFERENCES = 30


def plot(seed: int) -> bytes:
    """A 640x400 plot-like PNG drawn by pymupdf."""
    doc = pymupdf.open()
    page = doc.new_page(width=640, height=400)
    page.draw_rect(pymupdf.Rect(50, 20, 620, 350), color=(0, 0, 0))
    points = [pymupdf.Point(50 + i * 570 / 39, 340 - ((i * 53 + seed * 29) % 300)) for i in range(40)]
    page.draw_polyline(points, color=(0.1, 0.3, 0.8), width=2)
    page.insert_text((60, 380), f"run {seed}: accuracy by epoch", fontsize=14)
    return page.get_pixmap(dpi=72).tobytes("png")


def build(home: Path) -> str:
    ws = Workspace.create(home, "bench", "Does dropout improve calibration on small datasets?")
    cites = []
    for i in range(REFERENCES):
        pid = f"24{i % 12 + 1:02d}.{10000 + i:05d}v1"
        atomic_write_json(paper_dir(ws, pid) / "meta.json", {
            "id": pid, "source": "arxiv", "title": f"Paper {i} on calibration & dropout", "year": 2020 + i % 5,
            "authors": [f"Author{i} Surname{i}", "Second Author"], "pages": 20, "primary_category": "cs.LG",
            "file": "paper.pdf"})
        cites.append(f"[arXiv:{pid} p.{i % 20 + 1}]")
    paragraphs = [f"Finding {i}: the effect holds with $\\alpha_{i} \\leq 0.{i}$ {cite}." for i, cite in enumerate(cites)]
    for n in range(1, FIGURES + 1):
        rel = f"runs/{n}/plot.png"
        atomic_write_bytes(ws.files_dir / rel, plot(n))
        ws.append_run({"run": n, "script": "train.py", "args": ["--seed", str(n)], "exit_code": 0,
                       "duration_s": 10.0 + n, "artifacts": [rel], "metrics": {"accuracy": 0.8 + n / 100},
                       "output_dir": f"runs/{n}"})
    ws.append_step({"type": "action", "step": 1, "final_answer": "\n\n".join(paragraphs)})
    ws.update(status="completed")
    return ws.name


def timed(args: list[str], env: dict[str, str], repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):  # the first warms the page cache
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "agent_scientist", *args], env=env, check=True,
                       capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "workspaces"
        name = build(home)
        env = {**os.environ, "AGENT_SCIENTIST_HOME": str(home)}
        pdf, folder = Path(tmp) / "paper.pdf", Path(tmp) / "tex"
        rows = [("export (markdown, baseline)", timed(["export", name, "-o", str(Path(tmp) / "r.md")], env, repeats),
                 (Path(tmp) / "r.md").stat().st_size)]
        rows.append(("export --format latex", timed(["export", name, "--format", "latex", "-o", str(folder)], env,
                                                    repeats), sum(f.stat().st_size for f in folder.rglob("*")
                                                                  if f.is_file())))
        rows.append(("export --format pdf (typst)", timed(["export", name, "--format", "pdf", "-o", str(pdf)], env,
                                                          repeats), pdf.stat().st_size))
        with pymupdf.open(pdf) as doc:
            images = len({img[0] for page in doc for img in page.get_images()})
            pages = len(doc)
        if shutil.which("pdflatex"):
            latex_pdf = Path(tmp) / "latex.pdf"
            rows.append(("export --format pdf --engine latex",
                         timed(["export", name, "--format", "pdf", "--engine", "latex", "-o", str(latex_pdf)], env,
                               max(1, repeats // 2)), latex_pdf.stat().st_size))
    print(f"workspace: {FIGURES} figures, {REFERENCES} references; typst PDF: {pages} pages, {images} images; "
          f"median of {repeats} CLI runs")
    base = rows[0][1]
    for label, seconds, size in rows:
        print(f"{label:38s} {seconds:6.2f} s  ({seconds / base:4.1f}x markdown)  {size / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
