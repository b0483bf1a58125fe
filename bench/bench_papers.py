"""Papers benchmark: extraction speed against raw pymupdf, and first versus cached read_paper.

Run: python bench/bench_papers.py. Prints pages per second for our extraction and for raw
`page.get_text()` on the same 15-page two-column PDF (same run), their ratio, and the time of a
first read_paper (API + download + extract + cache from a loopback server) and of a cached one.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pymupdf  # noqa: E402
from support import pdfs  # noqa: E402
from support.arxiv_server import ArxivServer, entry  # noqa: E402

from agent_scientist.config import load_settings  # noqa: E402
from agent_scientist.papers.pdf import extract  # noqa: E402
from agent_scientist.papers.tool import read  # noqa: E402
from agent_scientist.workspace import Workspace  # noqa: E402

PAGES = 15
ROUNDS = 7


def raw_extract(data: bytes) -> list[str]:
    doc = pymupdf.open(stream=data, filetype="pdf")
    texts = [page.get_text() for page in doc]
    doc.close()
    return texts


def rate(fn, data: bytes) -> float:
    """Median pages per second over ROUNDS runs (one warm-up first)."""
    fn(data)
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn(data)
        times.append(time.perf_counter() - start)
    return PAGES / statistics.median(times)


def main() -> None:
    data = pdfs.make_paper(PAGES, lines=45)
    ours, raw = rate(lambda d: extract(d).pages, data), rate(raw_extract, data)
    print(f"PDF: {PAGES} pages, two columns, {len(data) / 1e3:.0f} kB")
    print(f"extraction, ours:               {ours:8.1f} pages/s")
    print(f"extraction, raw page.get_text(): {raw:8.1f} pages/s")
    print(f"raw / ours:                     {raw / ours:8.2f}x  (target: at most 2x)")

    server = ArxivServer([entry("2401.01234v2", "Benchmark paper", pdf=data)]).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            s = load_settings({"home": tmp, "arxiv_api_url": server.api_url, "arxiv_pdf_url": server.pdf_url,
                               "arxiv_delay": 0})
            ws = Workspace.create(Path(tmp), "bench")
            start = time.perf_counter()
            read(ws, s, "2401.01234")
            first = time.perf_counter() - start
            cached = []
            for page in range(ROUNDS):
                start = time.perf_counter()
                read(ws, s, "2401.01234", page=page % PAGES + 1)
                cached.append(time.perf_counter() - start)
            print(f"first read_paper (API + download + extract + cache): {first * 1e3:7.1f} ms "
                  f"({server.count()} requests)")
            print(f"cached read_paper (median of {ROUNDS} pages):        {statistics.median(cached) * 1e3:7.1f} ms "
                  f"({server.count()} requests in total)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
