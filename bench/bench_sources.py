"""Multi-source search against loopback arXiv, Semantic Scholar and OpenAlex servers: HTTP calls and wall
time (cold, then cached), with a single-source arXiv search as the same-run baseline; all five sources
(arXiv, Semantic Scholar, OpenAlex, PubMed, Crossref) on servers answering in 200 ms each, asked at once
against one after another (target: at once <= 1.3x the slowest source alone); and merge/dedupe correctness
on generated overlapping records of five indexes (the same paper under DOI, PMID, PMCID and arXiv id,
titles with markup; duplicates left and distinct papers merged: both must be 0).

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
from support.crossref_server import CrossrefServer, CrossrefWork  # noqa: E402
from support.eutils_server import Article, EutilsServer  # noqa: E402
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


def parallel_searches(repeats: int, latency: float = 0.2) -> None:
    """All five sources with `latency` s per answer: each alone, one after another, and all at once."""
    n = 20
    arxiv = ArxivServer([entry(f"2401.{i:05d}v1", f"Zinc widgets study {i}") for i in range(n)]).start()
    scholar = ScholarServer([Work(f"{i:040x}", f"Zinc widgets study {i}", 2020, doi=f"10.1000/z.{i}")
                             for i in range(n)]).start()
    eutils = EutilsServer([Article(str(1000 + i), f"Zinc <i>widgets</i> study {i}", 2020, doi=f"10.1000/z.{i}")
                           for i in range(n)]).start()
    cref = CrossrefServer([CrossrefWork(f"10.1000/z.{i}", f"Zinc widgets study {i}", 2020) for i in range(n)]).start()
    for server in (arxiv, scholar, eutils, cref):
        server.delay = latency
    names = ["arxiv", "semantic_scholar", "openalex", "pubmed", "crossref"]
    try:
        with tempfile.TemporaryDirectory() as home:
            s = load_settings({"home": home, "arxiv_api_url": arxiv.api_url, "arxiv_delay": 0,
                               "semantic_scholar_api_url": scholar.base, "semantic_scholar_delay": 0,
                               "openalex_api_url": scholar.base, "pubmed_api_url": eutils.base,
                               "crossref_api_url": cref.base, "paper_sources": ",".join(names),
                               "http_timeout": 10})
            alone: dict[str, list[float]] = {name: [] for name in names}
            together, merged = [], 0
            for r in range(repeats):
                for name in names:
                    ws = Workspace.create(Path(home), f"p-{name}-{r}")
                    t0 = time.perf_counter()
                    search(ws, s, "zinc widgets study", max_results=10, source=name)
                    alone[name].append(time.perf_counter() - t0)
                ws = Workspace.create(Path(home), f"p-all-{r}")
                t0 = time.perf_counter()
                results = search(ws, s, "zinc widgets study", max_results=10)
                together.append(time.perf_counter() - t0)
                merged = len([x for x in results if "id" in x])
            each = {name: statistics.median(t) for name, t in alone.items()}
            slowest = max(each.values())
            sequential = sum(each.values())
            at_once = statistics.median(together)
            print(f"five sources at {latency * 1e3:.0f} ms per answer (median of {repeats}): "
                  + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in each.items()))
            print(f"  one after another {sequential * 1e3:.0f} ms; at once {at_once * 1e3:.0f} ms = "
                  f"{at_once / slowest:.2f}x the slowest source alone ({slowest * 1e3:.0f} ms; target <= 1.3x); "
                  f"{merged} merged results")
    finally:
        for server in (arxiv, scholar, eutils, cref):
            server.stop()


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
    pmid, pmcid = str(10_000_000 + truth), f"PMC{5_000_000 + truth}" if truth % 2 else ""
    marked = title.replace("widget", "<i>widget</i>")  # PubMed and Crossref titles keep their markup
    if truth % 5:  # in PubMed: its PMID, its DOI (when it has one), its PMCID (when in PMC)
        out.append(record(title=marked, year=year, doi=doi.upper(), pmid=pmid, pmcid=pmcid, sources=["pubmed"]))
    if doi:
        out.append(record(title=marked, year=year, doi=doi, sources=["crossref"]))
    if pmcid and truth % 5:  # a full-text index that knows it by PMCID and PMID only, its title changed in print
        out.append(record(title=f"[Preprint] {title} revisited", year=year + 1, pmid=pmid,
                          pmcid=pmcid.lower() if truth % 3 else pmcid, sources=["europepmc"]))
    return out


def dedupe(papers: int) -> None:
    rng = random.Random(7)
    per_source: dict[str, list[tuple[int, dict]]] = {name: [] for name in ("arxiv", "semantic_scholar", "openalex",
                                                                            "pubmed", "crossref", "europepmc")}
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
    parallel_searches(args.repeats)
    dedupe(args.papers)


if __name__ == "__main__":
    main()
