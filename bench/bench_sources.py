"""Multi-source search against loopback arXiv, Semantic Scholar and OpenAlex servers: HTTP calls and wall
time (cold, then cached), with a single-source arXiv search as the same-run baseline; and merge/dedupe
correctness on generated overlapping records (duplicates left and distinct papers merged: both must be 0).

    python bench/bench_sources.py [--papers 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.arxiv_server import ArxivServer, entry  # noqa: E402
from support.scholar_server import ScholarServer, Work  # noqa: E402

from agent_scientist.config import load_settings  # noqa: E402
from agent_scientist.papers.search import search  # noqa: E402
from agent_scientist.papers.sources.works import keys, merge, record  # noqa: E402
from agent_scientist.workspace import Workspace  # noqa: E402


def timed_searches(repeats: int) -> None:
    works = [Work(f"{i:040x}", f"Widgets study number {i}", 2000 + i % 25, doi=f"10.1000/w.{i}",
                  arxiv=f"2401.{i:05d}" if i % 3 == 0 else "", citations=i) for i in range(1, 41)]
    arxiv = ArxivServer([entry(f"2401.{i:05d}v1", f"Widgets study number {i}") for i in range(3, 41, 3)]).start()
    scholar = ScholarServer(works).start()
    try:
        with tempfile.TemporaryDirectory() as home:
            base = {"home": home, "arxiv_api_url": arxiv.api_url, "arxiv_pdf_url": arxiv.pdf_url, "arxiv_delay": 0,
                    "semantic_scholar_api_url": scholar.base, "semantic_scholar_delay": 0,
                    "openalex_api_url": scholar.base, "http_timeout": 10}
            for sources in ("arxiv", "arxiv,semantic_scholar,openalex"):
                s = load_settings({**base, "paper_sources": sources})
                cold, warm, calls = [], [], []
                for n in range(repeats):
                    ws = Workspace.create(Path(home), f"b{len(sources)}-{n}")
                    before = arxiv.count() + scholar.count()
                    t0 = time.perf_counter()
                    results = search(ws, s, "widgets study", max_results=20)
                    cold.append(time.perf_counter() - t0)
                    calls.append(arxiv.count() + scholar.count() - before)
                    t0 = time.perf_counter()
                    search(ws, s, "widgets study", max_results=20)
                    warm.append(time.perf_counter() - t0)
                papers = [r for r in results if "id" in r]
                print(f"{sources:<34} {statistics.median(calls):.0f} HTTP calls, cold {statistics.median(cold) * 1e3:.1f} ms, "
                      f"cached {statistics.median(warm) * 1e3:.2f} ms (median of {repeats}); {len(papers)} results")
    finally:
        arxiv.stop()
        scholar.stop()


def variants(rng: random.Random, truth: int) -> list[dict]:
    """How three indexes may describe paper `truth`: DOI case, arXiv versions, title punctuation, missing ids."""
    title = f"Sparse widget model {truth} for gadget accuracy"
    year = 2000 + truth % 20
    doi = f"10.{1000 + truth % 7}/paper.{truth}" if truth % 4 else ""
    arxiv = f"2{truth % 10}01.{truth:05d}" if truth % 3 == 0 else ""
    out = []
    if arxiv:
        out.append(record(title=title, year=year, arxiv_id=f"{arxiv}v{1 + truth % 3}", sources=["arxiv"]))
    out.append(record(title=title.upper() + ".", year=year, doi=doi.lower(), arxiv_id=arxiv,
                      s2_id=f"{truth:040x}", sources=["semantic_scholar"]))
    if doi or arxiv:  # OpenAlex: no id of ours otherwise
        out.append(record(title=f"{title} ", year=year if rng.random() < 0.8 else year, doi=doi,
                          sources=["openalex"]))
    return out


def dedupe(papers: int) -> None:
    rng = random.Random(7)
    per_source: dict[str, list[tuple[int, dict]]] = {"arxiv": [], "semantic_scholar": [], "openalex": []}
    for truth in range(papers):
        for rec in variants(rng, truth):
            per_source[rec["sources"][0]].append((truth, rec))
        if truth % 10 == 0:  # a distinct paper with the same title but another year: must stay distinct
            twin = record(title=f"Sparse widget model {truth} for gadget accuracy", year=1990, s2_id=f"{truth + 10**9:040x}",
                          sources=["semantic_scholar"])
            per_source["semantic_scholar"].append((papers + truth, twin))
    for lst in per_source.values():
        rng.shuffle(lst)
    inputs = [pair for lst in per_source.values() for pair in lst]
    t0 = time.perf_counter()
    merged = merge([[r for _, r in lst] for lst in per_source.values()])
    elapsed = time.perf_counter() - t0
    owner: dict[int, set[int]] = {}
    mixed: dict[int, set[int]] = {}
    merged_keys = [set(keys(m)) for m in merged]
    for truth, rec in inputs:
        hits = {i for i, k in enumerate(merged_keys) if set(keys(rec)) & k}
        owner.setdefault(truth, set()).update(hits)
        for i in hits:
            mixed.setdefault(i, set()).add(truth)
    truths = len(owner)
    left = sum(len(h) - 1 for h in owner.values())
    wrong = sum(1 for t in mixed.values() if len(t) > 1)
    print(f"merge/dedupe: {len(inputs)} records of {truths} distinct papers -> {len(merged)} results; "
          f"duplicates left {left}, distinct papers merged wrongly {wrong}; {elapsed * 1e3:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    timed_searches(args.repeats)
    dedupe(args.papers)


if __name__ == "__main__":
    main()
