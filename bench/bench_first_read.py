"""Where the first read_paper's time goes, with the memory on (as in a run) and without it.

Run: python bench/bench_first_read.py. One 8-page paper from a loopback arXiv server. Prints, in the
same run: opening the memory (chromadb + embedding model load + warm-up, done once at run start), a
first read without memory (the baseline), a first read with memory split into its answer and the
passage indexing (in the background since this change: the answer comes before it), and the
first read_paper(query=...) after it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import pdfs  # noqa: E402
from support.arxiv_server import ArxivServer, entry  # noqa: E402

from agent_scientist.config import load_settings  # noqa: E402
from agent_scientist.memory import open_memory  # noqa: E402
from agent_scientist.papers.store import chunk_pages, load_pages  # noqa: E402
from agent_scientist.papers.tool import read  # noqa: E402
from agent_scientist.workspace import Workspace  # noqa: E402


class Synchronous:
    """The memory as before this change: add_passages_later hidden, so the read indexes in the call."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        if name == "add_passages_later":
            raise AttributeError(name)
        return getattr(self._store, name)


def main() -> None:
    data = pdfs.make_paper(8, lines=45)
    papers = [entry(f"2401.0123{i}v1", f"Benchmark paper {i}", pdf=data) for i in range(5)]
    server = ArxivServer(papers).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            s = load_settings({"home": tmp, "arxiv_api_url": server.api_url, "arxiv_pdf_url": server.pdf_url,
                               "arxiv_delay": 0})
            ws = Workspace.create(Path(tmp), "bench")
            read(ws, s, "2401.01234")  # imports and first-use costs, paid by neither figure below
            t = time.perf_counter()
            read(ws, s, "2401.01230")
            bare = time.perf_counter() - t

            t = time.perf_counter()
            memory = open_memory(ws, s)
            memory.embed(["warm-up"])
            opened = time.perf_counter() - t

            t = time.perf_counter()
            read(ws, s, "2401.01233", memory=Synchronous(memory))
            before = time.perf_counter() - t

            t = time.perf_counter()
            read(ws, s, "2401.01231", memory=memory)
            answered = time.perf_counter() - t
            wait = getattr(memory, "wait_indexed", lambda: None)
            wait()
            indexed = time.perf_counter() - t
            chunks = len(chunk_pages(load_pages(ws, "2401.01231v1")["pages"]))

            t = time.perf_counter()
            read(ws, s, "2401.01231", query="calibration of the method", memory=memory)
            queried = time.perf_counter() - t

            t = time.perf_counter()
            read(ws, s, "2401.01232", memory=memory)
            read(ws, s, "2401.01232", query="calibration of the method", memory=memory)
            back_to_back = time.perf_counter() - t
    finally:
        server.stop()
    print(f"paper: 8 pages, {chunks} passages of <= 1,000 characters")
    print(f"open the memory (chromadb, embedding model, warm-up; once per run): {opened * 1e3:8.1f} ms")
    print(f"first read_paper without memory (baseline):                    {bare * 1e3:8.1f} ms")
    print(f"first read_paper with memory, indexing in the call (before):   {before * 1e3:8.1f} ms "
          f"({before / bare:.2f}x the baseline)")
    print(f"first read_paper with memory, indexing after the answer (now): {answered * 1e3:8.1f} ms "
          f"({answered / bare:.2f}x the baseline)")
    print(f"  ... passages indexed after                                   {indexed * 1e3:8.1f} ms")
    print(f"read_paper(query=...) once indexed:                            {queried * 1e3:8.1f} ms")
    print(f"first read then read(query=...) at once (waits for the index): {back_to_back * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
