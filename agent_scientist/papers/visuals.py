"""Tables and figures of a paper: found once per paper, in the background, cached as visuals.json beside pages.json.

Tables come from pymupdf's table finder (`page.find_tables`: ruled grids first, its text strategy below a
"Table N" caption that no grid answered); each cell's text is re-read from the page's words inside the cell, so
`3.30` stays `3.30`. Figures are raster images (`get_image_rects`) and vector drawings (`cluster_drawings`)
grouped with their nearest "Figure N"/"Fig. N" caption (on the same page, else the page before), rendered once
to a PNG of at most MAX_SIDE px and MAX_BYTES.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from pathlib import Path
from typing import Any, cast

from agent_scientist.fsio import atomic_write_bytes, atomic_write_json, read_json
from agent_scientist.records import FigureRecord, TableRecord, Visuals

VERSION = 1
FILE = "visuals.json"
MAX_SIDE = 1500
MAX_BYTES = 1_000_000
_CAPTION = re.compile(r"^(Figure|Fig\.?|Table|Tab\.?)\s*(\d+)\s*[:.|]", re.IGNORECASE)
# pymupdf-layout's ONNX model gates the table finder when installed: 0.6 s a page for no better cells here
# (bench/bench_figures.py measures both); the line finder, with its text strategy under captions, is used.
USE_LAYOUT = False
_MIN_REGION = 24.0  # points: smaller drawings are rules, bullets, underlines
log = logging.getLogger(__name__)
_lock = threading.Lock()
_running: dict[Path, threading.Thread] = {}


def nfkc(text: str) -> str:
    """Ligatures and compatibility forms unfolded, whitespace collapsed: the form captions are compared in."""
    return " ".join(unicodedata.normalize("NFKC", text).replace("\u00ad", "").split())


def caption_kind(text: str) -> tuple[str, int] | None:
    """("table"|"figure", number) when a paragraph starts a caption ("Table 3:", "Fig. 2.", "Figure 2:")."""
    match = _CAPTION.match(nfkc(text))
    if not match:
        return None
    return ("table" if match.group(1).lower().startswith("tab") else "figure"), int(match.group(2))


def caption_body(text: str) -> str:
    """A caption without its "Table 3:" / "Fig. 2." label (a paper reproducing it numbers it anew)."""
    match = _CAPTION.match(nfkc(text))
    return nfkc(text)[match.end():].strip() if match else nfkc(text)


# -- the cache ------------------------------------------------------------------
def cached(folder: Path) -> Visuals | None:
    """The extraction recorded for a paper folder, or None when it has not finished (or is stale)."""
    try:
        data = read_json(folder / FILE)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    return cast(Visuals, data)  # JSON from disk this module wrote (its version checked)


def find_table(found: Visuals | None, number: int) -> TableRecord | None:
    """Table `number` of an extraction (None: not found, or no extraction)."""
    return next((t for t in found["tables"] if t["number"] == number), None) if found else None


def find_figure(found: Visuals | None, number: int) -> FigureRecord | None:
    """Figure `number` of an extraction (None: not found, or no extraction)."""
    return next((f for f in found["figures"] if f["number"] == number), None) if found else None


def failed(error: str) -> Visuals:
    """An extraction that found nothing, and why."""
    return Visuals(version=VERSION, tables=[], figures=[], error=error)


def start(folder: Path, max_pages: int = 500) -> None:
    """Begin extracting a paper's tables and figures in a background thread unless done or running."""
    if cached(folder) is not None or not (folder / "paper.pdf").is_file():
        return
    import pymupdf  # noqa: F401 - imported here: an import racing the caller's own can fail half-initialized

    from agent_scientist.papers import pdf  # noqa: F401

    with _lock:
        if folder in _running and _running[folder].is_alive():
            return
        thread = threading.Thread(target=_run, args=(folder, max_pages), name=f"visuals-{folder.name}", daemon=True)
        _running[folder] = thread
        thread.start()


def ensure(folder: Path, max_pages: int = 500) -> Visuals:
    """The extraction of a paper folder, waiting for (or doing) it when it is not cached yet."""
    found = cached(folder)
    if found is not None:
        return found
    if not (folder / "paper.pdf").is_file():
        return failed("no PDF of this paper in the workspace")
    start(folder, max_pages)
    with _lock:
        thread = _running.get(folder)
    if thread is not None:
        thread.join()
    return cached(folder) or failed("extraction failed")


def _run(folder: Path, max_pages: int) -> None:
    try:
        data = extract_visuals((folder / "paper.pdf").read_bytes(), folder, max_pages)
    except Exception as exc:  # a PDF pymupdf chokes on: recorded, not retried on every read
        log.warning("table and figure extraction failed for %s", folder, exc_info=True)
        data = failed(f"{type(exc).__name__}: {str(exc)[:160]}")
    try:
        if folder.is_dir():
            atomic_write_json(folder / FILE, data)
    except OSError:  # the paper folder went away meanwhile (a deleted workspace): nothing to keep
        log.warning("could not record the extraction of %s", folder, exc_info=True)


# -- extraction ---------------------------------------------------------------
def extract_visuals(pdf: bytes, folder: Path | None = None, max_pages: int = 500) -> Visuals:
    """Tables and figures of a PDF; figure PNGs are written into `folder` (none when it is None)."""
    from agent_scientist.papers.pdf import open_pdf

    doc = open_pdf(pdf)
    try:
        count = min(doc.page_count, max_pages)
        captions = [_captions(doc[n]) for n in range(count)]
        tables, boxes = _tables(doc, captions)
        figures = _figures(doc, captions, boxes, folder)
    finally:
        doc.close()
    return Visuals(version=VERSION, tables=tables, figures=figures)


def _captions(page: Any) -> list[dict]:
    """Caption paragraphs of a page: kind, number, text (NFKC) and rectangle."""
    import pymupdf

    found = []
    for block in page.get_text("blocks", flags=pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP):
        if block[6] != 0:
            continue
        kind = caption_kind(block[4])
        if kind:
            found.append({"kind": kind[0], "number": kind[1], "text": nfkc(block[4])[:600],
                          "rect": pymupdf.Rect(block[:4])})
    return found


def _grid(page: Any, table: Any, words: list) -> list[list[str | None]]:
    """The table's rows of cell texts (None where a cell is covered by one spanning it). Each word inside the
    table goes to the cell holding its centre, else to the nearest cell of its row (a header word wider than
    the column the text strategy saw)."""
    import pymupdf

    rows = [[None if cell is None else pymupdf.Rect(cell) for cell in row.cells] for row in table.rows]
    texts: dict[tuple[int, int], list] = {}
    area = pymupdf.Rect(table.bbox) + (-20, 0, 20, 0)
    for word in words:
        x, y = (word[0] + word[2]) / 2, (word[1] + word[3]) / 2
        if not area.contains(pymupdf.Point(x, y)):
            continue
        best, gap = None, 1e9
        for r, row in enumerate(rows):
            for c, rect in enumerate(row):
                if rect is None or not rect.y0 <= y <= rect.y1:
                    continue
                distance = 0.0 if rect.x0 <= x <= rect.x1 else min(abs(x - rect.x0), abs(x - rect.x1))
                if distance < gap:
                    best, gap = (r, c), distance
        if best is not None:
            texts.setdefault(best, []).append(word)
    out: list[list[str | None]] = []
    for r, row in enumerate(rows):
        cells: list[str | None] = []
        for c, rect in enumerate(row):
            inside = sorted(texts.get((r, c), []), key=lambda w: (round(w[3]), w[0]))
            cells.append(None if rect is None else nfkc(" ".join(w[4] for w in inside)))
        out.append(cells)
    return out


def _tables(doc: Any, captions: list[list[dict]]) -> tuple[list[TableRecord], dict[int, list]]:
    """Captioned tables (plus an uncaptioned grid continuing the last one on the next page), and the tables'
    rectangles by page (no figure is looked for inside them)."""
    import pymupdf

    out: list[TableRecord] = []
    boxes: dict[int, list] = {}
    seen: set[int] = set()
    for index, page_captions in enumerate(captions):
        page = doc[index]
        wanted = sorted((c for c in page_captions if c["kind"] == "table"), key=lambda c: c["rect"].y0)
        words = page.get_text("words")
        try:
            found = list(page.find_tables(strategy="lines", use_layout=USE_LAYOUT).tables)
        except Exception:  # a page the finder cannot parse has no tables for us
            found = []
        used: set[int] = set()
        for cap in wanted:
            if cap["number"] in seen:
                continue
            below = _next_y(cap, page_captions, page.rect)
            pick = _nearest_table(found, used, cap["rect"], below)
            unruled = False
            if pick is None:
                clip = pymupdf.Rect(page.rect.x0, cap["rect"].y1, page.rect.x1, below)
                try:
                    text_tables = [t for t in page.find_tables(clip=clip, strategy="text", use_layout=USE_LAYOUT).tables
                                   if t.row_count >= 2 and t.col_count >= 2]
                except Exception:
                    text_tables = []
                table, unruled = (text_tables[0], True) if text_tables else (None, False)
            else:
                used.add(pick)
                table = found[pick]
            if table is None:
                continue
            rows = _grid(page, table, words)
            if unruled:  # the text strategy's gaps between lines come back as empty rows
                rows = [r for r in rows if any(c for c in r)]
            seen.add(cap["number"])
            out.append(TableRecord(number=cap["number"], page=index + 1, pages=[index + 1], caption=cap["text"],
                                   rows=rows, header_rows=_header_rows(rows)))
            boxes.setdefault(index + 1, []).append(pymupdf.Rect(table.bbox))
        # a grid at the top of this page with no caption continues the previous page's last table
        if out and out[-1]["pages"][-1] == index and found:
            rest = [i for i in range(len(found)) if i not in used]
            if rest:
                first = min(rest, key=lambda i: found[i].bbox[1])
                table = found[first]
                cols = len(out[-1]["rows"][0]) if out[-1]["rows"] else 0
                above = [c for c in page_captions if c["rect"].y1 <= table.bbox[1]]
                if table.col_count == cols and not any(c["kind"] == "table" for c in above):
                    out[-1]["rows"].extend(_grid(page, table, words))
                    out[-1]["pages"].append(index + 1)
                    boxes.setdefault(index + 1, []).append(pymupdf.Rect(table.bbox))
    return out, boxes


def _next_y(cap: dict, page_captions: list[dict], rect: Any) -> float:
    """Where the region belonging to a caption ends: the next caption below it, else the page bottom."""
    lower = [c["rect"].y0 for c in page_captions if c["rect"].y0 > cap["rect"].y1 + 1]
    return min(lower, default=rect.y1)


def _nearest_table(found: list, used: set[int], cap: Any, below: float) -> int | None:
    """The grid just below a caption (before the next one), else the one just above it."""
    under = [i for i, t in enumerate(found) if i not in used and t.bbox[1] >= cap.y1 - 4 and t.bbox[1] < below]
    if under:
        return min(under, key=lambda i: found[i].bbox[1])
    over = [i for i, t in enumerate(found) if i not in used and t.bbox[3] <= cap.y0 + 4]
    return max(over, key=lambda i: found[i].bbox[3]) if over else None


def _header_rows(rows: list[list[str | None]]) -> int:
    """1, or 2 when the first row spans columns (its covered cells are None) over a row of sub-headers."""
    return 2 if rows and len(rows) > 2 and None in rows[0] else 1


def _regions(page: Any, tables: list) -> list[tuple[Any, str]]:
    """Figure candidates of a page: image rectangles and clusters of vector drawings, minus tables and rules."""
    import pymupdf

    regions: list[tuple[Any, str]] = []
    area = abs(page.rect)
    for info in page.get_images(full=True):
        try:
            rects = page.get_image_rects(info[0])
        except Exception:
            rects = []
        for rect in rects:
            rect = pymupdf.Rect(rect) & page.rect
            if rect.width >= _MIN_REGION and rect.height >= _MIN_REGION and abs(rect) < 0.9 * area:
                regions.append((rect, "raster"))
    try:
        clusters = page.cluster_drawings()
    except Exception:
        clusters = []
    for rect in clusters:
        rect = pymupdf.Rect(rect) & page.rect
        if rect.width < _MIN_REGION or rect.height < _MIN_REGION:
            continue
        if any(abs(rect & t) > 0.5 * abs(rect) for t in tables):
            continue
        if any(abs(rect & r) > 0.5 * abs(rect) for r, _k in regions):
            continue
        regions.append((rect, "vector"))
    return regions


def _figures(doc: Any, captions: list[list[dict]], tables: dict[int, list], folder: Path | None) -> list[FigureRecord]:
    """Each "Figure N" caption with its region: above or below it on its page, else the last one on the page before."""
    regions = {n: _regions(doc[n], tables.get(n + 1, [])) for n in range(len(captions))}
    free = {n: list(range(len(r))) for n, r in regions.items()}
    picked: dict[tuple[int, int], tuple[int, list[int]]] = {}
    figure_caps = [(n, c) for n, caps in enumerate(captions) for c in caps if c["kind"] == "figure"]
    for n, cap in figure_caps:  # the same page first
        choice = _nearest_region(regions[n], free[n], cap["rect"])
        if choice is not None:
            picked[(n, cap["number"])] = (n, _with_neighbours(regions[n], free[n], choice))
    for n, cap in figure_caps:  # then a caption at the top of the page after its figure
        if (n, cap["number"]) in picked or n == 0 or not free[n - 1]:
            continue
        choice = max(free[n - 1], key=lambda i: regions[n - 1][i][0].y1)
        picked[(n, cap["number"])] = (n - 1, _with_neighbours(regions[n - 1], free[n - 1], choice))
    out: list[FigureRecord] = []
    seen: set[int] = set()
    for n, cap in figure_caps:
        if (n, cap["number"]) not in picked or cap["number"] in seen:
            continue
        seen.add(cap["number"])
        where, chosen = picked[(n, cap["number"])]
        out.append(_figure(doc[where], cap, n + 1, [regions[where][i] for i in chosen], folder))
    return out


def _nearest_region(regions: list, free: list[int], cap: Any) -> int | None:
    """The free region ending just above a caption, else the one starting just below it."""
    above = [i for i in free if regions[i][0].y1 <= cap.y0 + 6]
    if above:
        return max(above, key=lambda i: regions[i][0].y1)
    under = [i for i in free if regions[i][0].y0 >= cap.y1 - 6]
    return min(under, key=lambda i: regions[i][0].y0) if under else None


def _with_neighbours(regions: list, free: list[int], choice: int) -> list[int]:
    """The chosen region and the free ones beside it (sub-figures side by side); all taken from `free`."""
    main = regions[choice][0]
    group = [i for i in free if i == choice or (regions[i][0].y0 < main.y1 and regions[i][0].y1 > main.y0)]
    for i in group:
        free.remove(i)
    return group


def _figure(page: Any, cap: dict, caption_page: int, parts: list, folder: Path | None) -> FigureRecord:
    import pymupdf

    rect = pymupdf.Rect(parts[0][0])
    for part, _kind in parts[1:]:
        rect |= part
    clip = (rect + (-14, -14, 14, 14)) & page.rect  # tick and axis labels sit just outside the strokes
    if caption_page == page.number + 1:
        if cap["rect"].y0 >= rect.y1 - 6:
            clip.y1 = min(clip.y1, cap["rect"].y0 - 1)
        elif cap["rect"].y1 <= rect.y0 + 6:
            clip.y0 = max(clip.y0, cap["rect"].y1 + 1)
    text = nfkc(" ".join(w[4] for w in sorted(page.get_text("words", clip=clip), key=lambda w: (round(w[3]), w[0]))))
    kinds = sorted({k for _r, k in parts})
    record = FigureRecord(number=cap["number"], page=page.number + 1, caption_page=caption_page, caption=cap["text"],
                          text=text[:2000], kind="+".join(kinds), bbox=[round(v, 1) for v in clip])
    if folder is not None:
        name = f"figure-{cap['number']}.png"
        png, size = render(page, clip)
        atomic_write_bytes(folder / name, png)
        record["image"], record["size"] = name, list(size)
    return record


def render(page: Any, clip: Any) -> tuple[bytes, tuple[int, int]]:
    """A PNG of a page region at most MAX_SIDE px on its long side and MAX_BYTES (shrunk until it fits)."""
    import pymupdf

    zoom = min(3.0, (MAX_SIDE - 2) / max(clip.width, clip.height, 1))  # pixel edges round up
    while True:
        pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), clip=clip, alpha=False)
        png = pix.tobytes("png")
        if (len(png) <= MAX_BYTES and max(pix.width, pix.height) <= MAX_SIDE) or zoom < 0.05:
            return png, (pix.width, pix.height)
        zoom *= 0.7
