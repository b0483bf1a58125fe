"""Hybrid retrieval and gather_evidence, each against its same-run baseline.

    python bench/bench_retrieval.py                    # quality, latency at 10,000, tokens, gather wall time
    python bench/bench_retrieval.py --sizes 10000,100000
    python bench/bench_retrieval.py --only quality,passages

- quality: bench_memory's real-text set (installed distributions' summary -> description, pydoc topics as
  distractors): recall@1/@5, dense only (nearest_notes) against hybrid (recall), on a tuning and a held-out
  half; the lead weight, RRF k and lexical weight picked on the tuning half among those that lower no
  passage query set below the settings before.
- passages: the same descriptions cut into 3-page "papers", chunked as papers are; per passage one exact-term
  query (its rarest word, a name or number, plus two of its other words) and one sentence query (its first
  12 words); recall@1/@5 of that passage, dense (nearest_passages) against hybrid (search_passages).
- latency: passage search over N synthetic passages (random unit vectors; texts of words drawn with the real-text
  set's frequencies: embedding 100,000 real passages takes hours on 2 cores), real titles as queries; the query
  vector is given, so only the search is timed. Dense against hybrid up to --full-max (filling chromadb is
  slow); the lexical search alone, what hybrid adds, at every size.
- tokens: a question over 5 papers x 10 pages: the planner's input tokens when it reads every page
  (read_paper's page views) against one gather_evidence answer; the worker's tokens as metered.
- gather: wall time of one gather over 30 candidates, loopback worker answering in 1 s, concurrency 1 vs 4.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_memory import fresh_store, quality_store, title_abstract_pairs  # noqa: E402

from agent_scientist.config import Settings  # noqa: E402
from agent_scientist.papers.store import chunk_pages  # noqa: E402
from agent_scientist.workspace import Workspace  # noqa: E402


def _rates(ranked: list[list[str]], wanted: list[str]) -> tuple[float, float]:
    n = len(wanted) or 1
    return (sum(r[:1] == [w] for r, w in zip(ranked, wanted, strict=True)) / n,
            sum(w in r[:5] for r, w in zip(ranked, wanted, strict=True)) / n)


def _split(queries: list[str]) -> tuple[list[int], list[int]]:
    """Tuning and held-out halves, fixed by each query's text (crc32 parity), never by its result."""
    tune = [i for i, q in enumerate(queries) if zlib.crc32(q.encode()) % 2 == 0]
    return tune, [i for i in range(len(queries)) if i not in set(tune)]


def _on(ranked: list[list[str]], wanted: list[str], part: list[int]) -> str:
    r1, r5 = _rates([ranked[i] for i in part], [wanted[i] for i in part])
    return f"{r1:.3f}/{r5:.3f}"


def _minmax(dense: list[tuple[str, float]], lexical: list[tuple[str, float]]) -> list[str]:
    """Score fusion (each list's scores scaled to 0-1, summed): a reference only; the issue asks for rank fusion."""
    out: dict[str, float] = {}
    for ranking in (dense, lexical):
        if ranking:
            low, high = min(s for _, s in ranking), max(s for _, s in ranking)
            for i, s in ranking:
                out[i] = out.get(i, 0.0) + ((s - low) / (high - low) if high > low else 1.0)
    return sorted(out, key=lambda i: -out[i])


def _mrr(ranked: list[list[str]], wanted: list[str], part: list[int]) -> float:
    return sum(1 / (ranked[i].index(wanted[i]) + 1) for i in part if wanted[i] in ranked[i]) / (len(part) or 1)


# The settings before the lead weight was re-chosen (lead weight, RRF k, lexical weight): the same-run baseline,
# and what a tie on the tuning half goes back to.
BEFORE = (2.0, 10, 1.5)


def bench_quality(root: Path) -> None:
    """Recall@1/@5 on the tuning half, the held-out half and all queries: dense, lexical, RRF as it was
    (k 60, equal weights), the settings before, the (lead weight, k, lexical weight) the tuning half picks,
    and recall() as shipped."""
    from agent_scientist.memory.hybrid import LEXICAL_WEIGHT, RRF_K, fuse
    from agent_scientist.papers.lexical import LEAD_WEIGHT, LexicalIndex

    store, pairs, notes = quality_store(root)
    queries = [summary for summary, _ in pairs]
    wanted = [f"doc-{i}" for i in range(len(pairs))]
    tune, held = _split(queries)
    dense, lexical, shipped = [], [], []
    for summary in queries:
        dense.append([(n["id"], n["similarity"]) for n in
                      store.nearest_notes(store.embed([summary])[0], 40, kind="finding")])
        lexical.append(store.lexical.search(summary, 40, kind="note"))
        shipped.append([r["id"] for r in store.recall(summary, k=5, kind="finding")])
    leads = (1.0, 2.0, 3.0, 4.0)
    by_lead: dict[float, list[list[str]]] = {}
    for lead in leads:  # the same notes, searched with each weight of a text's first words
        index = LexicalIndex(lead_weight=lead)
        index.add({"id": n["id"], "text": n["text"], "kind": "note"} for n in notes)
        by_lead[lead] = [[i for i, _ in index.search(q, 40, kind="note")] for q in queries]
        index.close()

    def rrf(lead: float, k: int, weight: float) -> list[list[str]]:
        return [sorted(s, key=lambda i: -s[i]) for d, x in zip(dense, by_lead[lead], strict=True)
                for s in [fuse([i for i, _ in d], x, k, (1.0, weight))]]

    grid = {(lead, k, w): rrf(lead, k, w) for lead in leads for k in (2, 5, 10, 20, 60) for w in (1.0, 1.5, 2.0, 3.0)}
    tuned = {g: (_rates([r[i] for i in tune], [wanted[i] for i in tune])[0], _mrr(r, wanted, tune))
             for g, r in grid.items()}
    # the tuning half's order: recall@1; ties (one tuning query is 0.012) go to the fewest settings changed
    # from BEFORE, then to the higher tuning MRR, then to the values nearest BEFORE's. The first in that order
    # that lowers no passage query set (r@1 or r@5 against BEFORE's, hybrid r@1 at least dense's) is picked.
    order = sorted(grid, key=lambda g: (tuned[g][0], -sum(a != b for a, b in zip(g, BEFORE, strict=True)),
                                        tuned[g][1], -sum(abs(a - b) for a, b in zip(g, BEFORE, strict=True))),
                   reverse=True)
    passages = _passage_sets(root)
    passed = []
    for picked in order:
        if picked == BEFORE or passages.keeps(picked, BEFORE):
            break
        passed.append(picked)
    print(f"quality: {len(pairs)} title->abstract queries over {len(notes)} texts, split by query text into "
          f"{len(tune)} tuning / {len(held)} held-out; recall@1/@5 as tuning | held-out | all:")
    rows = [("dense only", [[i for i, _ in d] for d in dense]),
            (f"lexical only (BM25, lead weight {LEAD_WEIGHT:g})", [[i for i, _ in x] for x in lexical]),
            ("RRF as it was first (k 60, weights 1:1, lead weight 2)", grid[(2.0, 60, 1.0)]),
            ("hybrid before (lead weight {:g}, k {}, lexical weight {:g})".format(*BEFORE), grid[BEFORE]),
            ("the tuning half picks (lead weight {:g}, k {}, lexical weight {:g})".format(*picked), grid[picked]),
            (f"recall() as shipped (lead weight {LEAD_WEIGHT:g}, k {RRF_K}, lexical weight {LEXICAL_WEIGHT:g})",
             shipped),
            ("min-max score fusion (reference: not rank fusion)", [_minmax(d, x) for d, x in zip(dense, lexical,
                                                                                               strict=True)])]
    for name, ranked in rows:
        print(f"quality:   {name}: {_on(ranked, wanted, tune)} | {_on(ranked, wanted, held)} | "
              f"{_on(ranked, wanted, list(range(len(queries))))}")
    for g in passed:
        got = passages.rates(*g)
        print("quality:   passed over (tuning {:.3f}, MRR {:.3f}), as it lowers a passage set: ".format(*tuned[g])
              + "lead weight {:g}, k {}, lexical weight {:g}: ".format(*g) + "; ".join(
                  f"{n} {r1:.3f}/{r5:.3f}" for n, (r1, r5) in got.items()))
    print("quality:   tuning recall@1 (MRR) by lead weight, at the picked k and lexical weight: " + "; ".join(
        f"{lead:g}: {tuned[(lead, *picked[1:])][0]:.3f} ({tuned[(lead, *picked[1:])][1]:.3f})" for lead in leads))


class _PassageSets:
    """The passage query sets, built once per run: the store, each set's (query, passage id), each query's
    vector and dense top 40, and the passages' texts (to rank them with other lexical and fusion settings)."""

    def __init__(self, root: Path) -> None:
        from agent_scientist.papers.lexical import tokens

        pairs = title_abstract_pairs()
        self.store = fresh_store(root, "passages")
        chunks_of: dict[str, list[dict]] = {}
        for i, (_, body) in enumerate(pairs):
            third = max(1, len(body) // 3)
            pages = [body[j:j + third] for j in range(0, len(body), third)][:3]
            chunks_of[f"2401.{i:05d}v1"] = chunk_pages(pages, size=400)
        for pid, chunks in chunks_of.items():
            self.store.add_passages(pid, chunks)
        self.texts = {f"{pid}#{n}": c["text"] for pid, chunks in chunks_of.items() for n, c in enumerate(chunks)}
        self.papers = len(chunks_of)
        df = Counter(t for text in self.texts.values() for t in set(tokens(text)))
        self.sets: dict[str, list[tuple[str, str]]] = {"exact-term": [], "sentence": []}
        for pid, text in self.texts.items():
            words = tokens(text)
            rare = [w for w in words if df[w] == 1 and (any(ch.isdigit() for ch in w) or len(w) > 6)]
            if rare and len(words) > 8:
                others = [w for w in words if df[w] > 1][:2]
                self.sets["exact-term"].append((" ".join([rare[0], *others]), pid))
            first = " ".join(text.split()[:12])
            if len(first.split()) >= 8:
                self.sets["sentence"].append((first, pid))
        self.vectors = {name: [self.store.embed([q])[0] for q, _ in queries] for name, queries in self.sets.items()}
        self.dense = {name: [[p["id"] for p in self.store.nearest_passages(v, 40)] for v in vectors]
                      for name, vectors in self.vectors.items()}
        self._rates: dict[tuple[float, int, float], dict[str, tuple[float, float]]] = {}

    def fused(self, lead: float, k: int, weight: float) -> dict[str, list[list[str]]]:
        """Each set's top 5 by hybrid_passages' fusion and per-paper cap, with these settings."""
        from agent_scientist.memory.hybrid import PER_PAPER, diverse, fuse
        from agent_scientist.papers.lexical import LexicalIndex

        index = LexicalIndex(lead_weight=lead)
        index.add({"id": i, "text": t, "kind": "passage", "group": i.split("#")[0]} for i, t in self.texts.items())
        out: dict[str, list[list[str]]] = {}
        for name, queries in self.sets.items():
            out[name] = []
            for (query, _), dense in zip(queries, self.dense[name], strict=True):
                s = fuse(dense, [i for i, _ in index.search(query, 40, kind="passage")], k, (1.0, weight))
                out[name].append([r["id"] for r in diverse([{"id": i, "paper_id": i.split("#")[0]} for i in
                                                            sorted(s, key=lambda i: -s[i])], 5, PER_PAPER)])
        index.close()
        return out

    def rates(self, lead: float, k: int, weight: float) -> dict[str, tuple[float, float]]:
        """(r@1, r@5) of each set with these settings."""
        key = (lead, k, weight)
        if key not in self._rates:
            self._rates[key] = {name: _rates(ranked, [w for _, w in self.sets[name]])
                                for name, ranked in self.fused(*key).items()}
        return self._rates[key]

    def keeps(self, settings: tuple[float, int, float], than: tuple[float, int, float]) -> bool:
        """No set's r@1 or r@5 lower than with `than`, and hybrid r@1 at least dense's on every set."""
        got, base = self.rates(*settings), self.rates(*than)
        return all(got[n][j] >= base[n][j] for n in got for j in (0, 1)) and all(
            got[n][0] >= _rates(self.dense[n], [w for _, w in self.sets[n]])[0] for n in got)


@functools.cache
def _passage_sets(root: Path) -> _PassageSets:
    return _PassageSets(root)


def bench_passages(root: Path) -> None:
    from agent_scientist.memory.hybrid import LEXICAL_WEIGHT, RRF_K
    from agent_scientist.papers.lexical import LEAD_WEIGHT

    data = _passage_sets(root)
    store = data.store
    for name, queries in data.sets.items():
        ranked: dict[str, list[list[str]]] = {
            "dense": [d[:5] for d in data.dense[name]],
            "lexical": [[i for i, _ in store.lexical.search(q, 5, kind="passage")] for q, _ in queries],
            "RRF as it was (k 60, 1:1)": data.fused(2.0, 60, 1.0)[name],
            "hybrid before (lead weight {:g}, k {}, lexical weight {:g})".format(*BEFORE): data.fused(*BEFORE)[name],
            f"hybrid as shipped (lead weight {LEAD_WEIGHT:g}, k {RRF_K}, lexical weight {LEXICAL_WEIGHT:g})": [
                [p["id"] for p in store.hybrid_passages(q, 5, vector=v)]
                for (q, _), v in zip(queries, data.vectors[name], strict=True)]}
        wanted = [w for _, w in queries]
        print(f"passages: {len(queries)} {name} queries over {len(data.texts)} passages of {data.papers} papers, "
              "r@1/r@5: " + "; ".join(f"{k} {_on(v, wanted, list(range(len(wanted))))}" for k, v in ranked.items()))


def _word_source(rng: np.random.Generator):
    """Words drawn with the real-text set's frequencies (after our tokenizer drops stop words), and real
    queries: the benchmark's titles."""
    from agent_scientist.papers.lexical import tokens

    pairs = title_abstract_pairs()
    counts = Counter(t for _, body in pairs for t in tokens(body))
    words = list(counts)
    p = np.array([counts[w] for w in words], dtype=float)
    p /= p.sum()
    return (lambda n: " ".join(rng.choice(words, n, p=p))), [s for s, _ in pairs]


class _Clock:
    """Wall and CPU milliseconds of each timed call (CPU: this process, all its threads; on a loaded
    machine the CPU figure is the steadier one, and about what the wall would be on an idle one)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def time(self, fn, *args, **kwargs):
        w, c = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        self.wall.append((time.perf_counter() - w) * 1000)
        self.cpu.append((time.process_time() - c) * 1000)
        return out

    def __str__(self) -> str:
        return (f"p50 {statistics.median(self.wall):.1f} ms, p95 {statistics.quantiles(self.wall, n=20)[-1]:.1f} ms"
                f" (CPU p50 {statistics.median(self.cpu):.1f} ms)")


def bench_latency(root: Path, sizes: list[int], full_max: int) -> None:
    """Dense against hybrid passage search on a full store (sizes up to `full_max`: chromadb takes minutes
    per 10,000 rows on 2 loaded cores), and the lexical search alone (what hybrid adds) at every size."""
    from agent_scientist.papers.lexical import LexicalIndex

    rng = np.random.default_rng(0)
    draw, titles = _word_source(rng)
    for size in sizes:
        texts = [draw(120) for _ in range(size)]
        index = LexicalIndex(root / f"lexical-{size}.sqlite3")
        for offset in range(0, size, 5000):
            index.add({"id": f"p{offset + j}", "text": t, "kind": "passage"}
                      for j, t in enumerate(texts[offset:offset + 5000]))
        alone = _Clock()
        for q in titles[:100]:
            alone.time(index.search, q, 40, kind="passage")
        print(f"latency: lexical search alone at {size:,} passages: {alone} (100 real titles as queries)")
        if size > full_max:
            continue
        store = fresh_store(root, f"latency-{size}")
        start = time.perf_counter()
        for offset in range(0, size, 1000):
            n = min(1000, size - offset)
            vecs = rng.normal(size=(n, 384)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            pid = f"2401.{offset // 1000:05d}v1"
            ids = [f"{pid}#{j}" for j in range(n)]
            metas = [{"paper_id": pid, "paper_base": pid[:-2], "page_start": 1 + j // 100, "page_end": 1 + j // 100,
                      "chunks": n} for j in range(n)]
            chunk = texts[offset:offset + n]
            store._write(store.passages, ids, chunk, metas, vecs)
            store.lexical.add([store._lexical_row("passage", i, t, m) for i, t, m in zip(ids, chunk, metas,
                                                                                            strict=True)])
        fill = time.perf_counter() - start
        clocks = {name: _Clock() for name in ("dense", "hybrid", "its dense part (40)", "its lexical part (40)",
                                              "its fetch of answered rows dense lacked")}
        vectors = rng.normal(size=(100, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.hybrid_passages(titles[0], 5, vector=vectors[0])
        for vector, text in zip(vectors, titles[:100], strict=False):
            clocks["dense"].time(store.nearest_passages, vector, 5)
            clocks["hybrid"].time(store.hybrid_passages, text, 5, vector=vector)
            # where hybrid's time goes, each part alone (in hybrid the lexical part runs beside the dense one)
            dense = {p["id"] for p in clocks["its dense part (40)"].time(store.nearest_passages, vector, 40)}
            lexical = [i for i, _ in clocks["its lexical part (40)"].time(store.lexical.search, text, 40,
                                                                           kind="passage")]
            clocks["its fetch of answered rows dense lacked"].time(  # hybrid reads at most the k it answers
                store._passage_rows, [i for i in lexical[:5] if i not in dense])
        print(f"latency: passage search at {size:,} passages (random vectors, texts drawn with real word "
              f"frequencies): {'; '.join(f'{k} {v}' for k, v in clocks.items())} (filled in {fill:.0f} s; "
              "query embedding not included)")


def _evidence_ws(root: Path, name: str, papers: int = 5, pages: int = 10) -> Workspace:
    from support.review_ws import add_text_paper

    ws = Workspace.create(root, name, "Does dropout improve calibration?")
    for p in range(papers):
        text = []
        for page in range(1, pages + 1):
            paras = [f"Paper {p} section {page}.{n}: with dropout {0.1 * n:.1f} the expected calibration error was "
                     f"{p + page / 10 + n / 100:.2f} on benchmark {page}{n}. " + "We followed the usual protocol "
                     "with fixed splits, five seeds and no extra tuning of the other hyperparameters. " * 4
                     for n in range(1, 4)]
            text.append("\n\n".join(paras))
        add_text_paper(ws, f"2401.{p:05d}v1", text)
    return ws


def _worker_reply(payload: dict) -> str | None:
    user = payload["messages"][-1]["content"]
    if "QUESTION:" not in user:
        return None
    items = [{"item": int(n), "score": 7, "summary": "Dropout changes the calibration error on this benchmark.",
              "stance": "supports", "quote": text.split(". ")[0]}
             for n, text in re.findall(r"PASSAGE (\d+) \([^)]*\):\n<<<\n(.*?)\n>>>", user, re.S)]
    return json.dumps(items)


def bench_tokens(root: Path) -> None:
    from support.openai_server import ChatServer

    from agent_scientist.agent.models import build_model
    from agent_scientist.fsio import read_json
    from agent_scientist.memory import open_memory
    from agent_scientist.memory.evidence import describe, gather
    from agent_scientist.papers.layout import paper_dir
    from agent_scientist.papers.views import page_view

    ws = _evidence_ws(root, "tokens")
    reading = 0
    for meta in ws.papers():
        data = read_json(paper_dir(ws, meta["id"]) / "pages.json")
        for page in range(1, len(data["pages"]) + 1):
            reading += len(page_view(dict(meta), data, page, 6000))
    with ChatServer(responder=_worker_reply) as server:
        settings = Settings(home=root, model="openai/worker", api_base=server.url, model_retries=0)
        found = gather(ws, settings, open_memory(ws, settings), build_model(settings, "worker"), ws.question)
    answer = len(describe(found, 8))
    call = len('gather_evidence("Does dropout improve calibration?")')
    print(f"tokens: a question over 5 papers x 10 pages: planner input reading every page ~{reading // 4:,} tokens; "
          f"calling gather_evidence ~{(answer + call) // 4:,} tokens ({reading / (answer + call):.1f}x fewer); "
          f"worker {found.tokens_in:,} in + {found.tokens_out:,} out over {found.batches} calls "
          f"(tokens ~ characters / 4 on the planner side; the worker's as the loopback server metered them)")


def bench_gather(root: Path) -> None:
    from support.openai_server import ChatServer

    from agent_scientist.agent.models import build_model
    from agent_scientist.memory import open_memory
    from agent_scientist.memory.evidence import gather

    walls = {}
    for limit in (1, 4):
        ws = _evidence_ws(root, f"gather-{limit}")
        with ChatServer(responder=_worker_reply, delay_s=1.0) as server:
            settings = Settings(home=root, model="openai/worker", api_base=server.url, model_retries=0,
                                evidence_concurrency=limit)
            store = open_memory(ws, settings)
            from agent_scientist.memory.evidence import candidates

            candidates(ws, store, ws.question, [])  # index the papers first: only the gather is timed
            t0 = time.perf_counter()
            found = gather(ws, settings, store, build_model(settings, "worker"), ws.question)
            walls[limit] = (time.perf_counter() - t0, found.read, found.batches, server.max_in_flight)
    (w1, n1, b1, _), (w4, _, _, m4) = walls[1], walls[4]
    print(f"gather: {n1} candidates in {b1} worker calls answering in 1 s: concurrency 1 {w1:.1f} s, "
          f"concurrency 4 {w4:.1f} s ({w1 / w4:.1f}x; at most {m4} in flight)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="quality,passages,latency,tokens,gather")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--full-max", type=int, default=10000, help="largest size filled into chromadb too")
    args = parser.parse_args()
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, fn in (("quality", lambda: bench_quality(root)), ("passages", lambda: bench_passages(root)),
                         ("latency", lambda: bench_latency(root, [int(s) for s in args.sizes.split(",")], args.full_max)),
                         ("tokens", lambda: bench_tokens(root)), ("gather", lambda: bench_gather(root))):
            if name in only:
                fn()
                sys.stdout.flush()


if __name__ == "__main__":
    main()
