"""Tables, figures and OCR on generated papers: speed against today's text-only path, and accuracy.

Run: python bench/bench_figures.py [--papers 6]. Prints, in one run:
- pages per second of text extraction only (the path every read takes) and of text + tables + figures
  (what the background extraction adds once per paper), on papers of 10-30 pages, and their ratio;
- table cell accuracy (cells equal after whitespace normalisation / all cells) over ruled, unruled and
  spanning-header tables with decimals, signs, percentages and leading zeros (target >= 0.98);
- figure recall and precision (found with the right number and page) over raster and vector figures, some
  captioned on the next page (target >= 0.95 each);
- OCR word recall on a text page rendered to an image at 200 dpi, where Tesseract is installed.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pymupdf  # noqa: E402
from support import pdfs  # noqa: E402

from agent_scientist.papers import visuals  # noqa: E402
from agent_scientist.papers.pdf import extract, ocr_available  # noqa: E402
from agent_scientist.papers.visuals import extract_visuals  # noqa: E402


def _value(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return f"{rng.uniform(0, 100):.2f}"
    if kind == 1:
        return f"{rng.choice('+-')}{rng.uniform(0, 9):.1f}%"
    if kind == 2:
        return f"{rng.randrange(1, 999):03d}"
    if kind == 3:
        return f"0.{rng.randrange(0, 99):02d}"
    return rng.choice(["ResNet", "ViT-B", "Ours", "n/a", "BERT"])


def make_tables(rng: random.Random, first: int, count: int) -> list:
    tables = []
    for k in range(count):
        number = first + k
        cols = rng.randrange(3, 6)
        style = ("ruled", "unruled", "spanning")[k % 3]
        body = [[f"row{r}"] + [_value(rng) for _ in range(cols - 1)] for r in range(rng.randrange(3, 7))]
        if style == "spanning":
            header = [[("Model", 1), ("Scores", cols - 1)], [""] + [f"S{i}" for i in range(1, cols)]]
        else:
            header = [["Name"] + [f"{rng.choice(['Accuracy', 'Memory', 'Latency', 'F1'])}{i}" for i in range(1, cols)]]
        tables.append((f"Table {number}: Generated {style} table {number}.", header, body,
                       "unruled" if style == "unruled" else "ruled"))
    return tables


def make_figures(rng: random.Random, first: int, pages: int) -> list:
    """Figures on pages 1..pages: two per page, or one whose caption is on the (figure-free) next page."""
    figures, number, page = [], first, 1
    while page <= pages:
        kinds = [rng.choice(["raster", "vector"]) for _ in range(2)]
        if rng.random() < 0.3 and page + 1 <= pages:
            figures.append((f"Figure {number}: Generated {kinds[0]} figure, caption overleaf.", kinds[0], page, True))
            number, page = number + 1, page + 2
            continue
        style = "Fig. {n}." if number % 2 else "Figure {n}:"
        for kind in kinds:
            figures.append((f"{style.format(n=number)} Generated {kind} e\ufb03cient figure.", kind, page, False))
            number += 1
        page += 1
    return figures


def expected_grid(header: list, body: list[list[str]]) -> list[list[str]]:
    rows = []
    for row in header:
        cells: list[str] = []
        for cell in row:
            text, span = cell if isinstance(cell, tuple) else (cell, 1)
            cells += [text] + [""] * (span - 1)
        rows.append(cells)
    return rows + [list(r) for r in body]


def norm(text: str | None) -> str:
    return " ".join((text or "").split())


def run_full(papers: list) -> tuple[list[dict], float]:
    """Text, then tables and figures (PNGs written), of each paper; the records and the seconds taken."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for n, (data, _t, _f) in enumerate(papers):
            folder = Path(tmp) / str(n)
            folder.mkdir()
            extract(data, ocr=False)
            results.append(extract_visuals(data, folder))
        return results, time.perf_counter() - start


def cell_accuracy(papers: list, results: list[dict]) -> tuple[float, int, int]:
    """Cells equal after whitespace normalisation, over every generated cell (a missed table: all wrong)."""
    cells = right = 0
    for (_data, tables, _figures), got in zip(papers, results, strict=True):
        by_number = {t["number"]: t for t in got["tables"]}
        for caption, header, body, _style in tables:
            have = by_number.get(int(caption.split()[1].rstrip(":.")), {}).get("rows", [])
            for r, row in enumerate(expected_grid(header, body)):
                for c, cell in enumerate(row):
                    cells += 1
                    right += r < len(have) and c < len(have[r]) and norm(have[r][c]) == norm(cell)
    return right / max(cells, 1), right, cells


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=6)
    args = parser.parse_args()
    rng = random.Random(22)
    papers = []
    for _ in range(args.papers):
        figures = make_figures(rng, 1, rng.randrange(3, 6))
        tables = make_tables(rng, 1, rng.randrange(4, 8))
        extra = rng.randrange(0, 20)
        data = pdfs.make_visual_paper(tables, figures, extra_pages=extra, split_table=False)
        while pymupdf.open(stream=data, filetype="pdf").page_count < 10:
            extra += 1
            data = pdfs.make_visual_paper(tables, figures, extra_pages=extra, split_table=False)
        papers.append((data, tables, figures))
    page_total = sum(pymupdf.open(stream=d, filetype="pdf").page_count for d, _t, _f in papers)

    start = time.perf_counter()
    for data, _t, _f in papers:
        extract(data, ocr=False)
    text_s = time.perf_counter() - start
    results, full_s = run_full(papers)
    visuals.USE_LAYOUT = True  # the alternative: pymupdf-layout's model gating the table finder
    layout_results, layout_s = run_full(papers[:2])
    visuals.USE_LAYOUT = False
    layout_pages = sum(pymupdf.open(stream=d, filetype="pdf").page_count for d, _t, _f in papers[:2])
    layout_acc = cell_accuracy(papers[:2], layout_results)[0]

    accuracy, right, cells = cell_accuracy(papers, results)
    found_figs = expected_figs = hits = 0
    for (_data, _tables, figures), got in zip(papers, results, strict=True):
        want_figs = {(int(cap.split()[1].rstrip(":.")), page) for cap, _k, page, _n in figures}
        got_figs = {(f["number"], f["page"]) for f in got["figures"]}
        expected_figs += len(want_figs)
        found_figs += len(got_figs)
        hits += len(want_figs & got_figs)
    table_count = sum(len(t) for _d, t, _f in papers)
    print(f"papers: {len(papers)}, pages: {page_total} ({min(pymupdf.open(stream=d, filetype='pdf').page_count for d, *_ in papers)}"
          f"-{max(pymupdf.open(stream=d, filetype='pdf').page_count for d, *_ in papers)} per paper)")
    print(f"text only (baseline):      {page_total / text_s:8.1f} pages/s")
    print(f"text + tables + figures:   {page_total / full_s:8.1f} pages/s   ratio {full_s / text_s:.2f}x the time "
          "(once per paper, in the background)")
    print(f"  (with pymupdf-layout gating the table finder: {layout_pages / layout_s:.1f} pages/s, cell accuracy "
          f"{layout_acc:.4f} on {len(papers[:2])} of the papers)")
    print(f"table cell accuracy:       {accuracy:.4f}  ({right}/{cells} cells, {table_count} tables: "
          "ruled, unruled, spanning headers; target >= 0.98)")
    print(f"figure recall:             {hits / expected_figs:.4f}  ({hits}/{expected_figs} figures, raster + vector; "
          "target >= 0.95)")
    print(f"figure precision:          {hits / max(found_figs, 1):.4f}  ({hits}/{found_figs} found)")
    if ocr_available():
        start = time.perf_counter()
        got_ocr = extract(pdfs.make_ocr_page(200))
        ocr_s = time.perf_counter() - start
        words = pdfs.OCR_TEXT.lower().split()
        seen = set(got_ocr.pages[0].lower().split())
        print(f"OCR word recall at 200 dpi: {sum(w in seen for w in words) / len(words):.4f}  ({len(words)} words, "
              f"{ocr_s:.1f} s for the page)")
    else:
        print("OCR: Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng); not measured")


if __name__ == "__main__":
    main()
