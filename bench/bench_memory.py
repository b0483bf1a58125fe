"""Memory benchmarks: retrieval quality, embedding throughput, recall latency, import rate, context size.

    python bench/bench_memory.py            # everything at 10,000 stored items (about 3-5 minutes on 2 cores)
    python bench/bench_memory.py --large    # also recall latency at 100,000 items
    python bench/bench_memory.py --only quality,context
    python bench/bench_memory.py --only sweep   # batch size and onnxruntime threads, by measurement
    python bench/bench_memory.py --only runtimes   # onnxruntime against OpenVINO: speed and vectors, same run
    python bench/bench_memory.py --only import --base-src DIR --runs 3   # import rows against main (DIR)

Retrieval quality uses real text the package can carry offline: for every installed Python distribution
with a real description, its one-line Summary is the query (the "title") and its cleaned long description
(with the summary sentence removed) is the stored document (the "abstract"); the topic texts of Python's
own help (pydoc_data) are added as distractors. recall@k = share of queries whose document is in the top k.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata as md
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from agent_scientist.config import Settings  # noqa: E402
from agent_scientist.memory import open_memory  # noqa: E402
from agent_scientist.memory.embedding import LocalEmbedder, _threads, openvino_installed  # noqa: E402
from agent_scientist.workspace import Workspace  # noqa: E402


def clean(text: str) -> str:
    keep = []
    for line in text.splitlines():
        s = line.strip()
        if not s or re.search(r"https?://|\|\s*\w+\s*\||\[!\[|^[=\-~^*#`<>.:]{3,}|copyright|license", s, re.I):
            continue
        keep.append(re.sub(r"[#*`_>\[\]]+", " ", s))
    return " ".join(" ".join(keep).split())


def title_abstract_pairs() -> list[tuple[str, str]]:
    """(summary, description) of installed distributions: real titles and abstracts, available offline."""
    seen, pairs = set(), []
    for dist in md.distributions():
        meta = dist.metadata
        name = (meta.get("Name") or "").lower()
        summary = " ".join((meta.get("Summary") or "").split())
        body = clean(meta.get_payload() or meta.get("Description") or "")
        body = body.replace(summary, " ").strip()
        if not name or name in seen or len(summary) < 20 or len(body) < 300:
            continue
        seen.add(name)
        pairs.append((summary, body[:1500]))
    return sorted(pairs)


def distractors() -> list[str]:
    from pydoc_data.topics import topics

    return [clean(t)[:1500] for t in topics.values() if len(t) > 300]


def fresh_store(root: Path, name: str):
    ws = Workspace.create(root, name)
    return open_memory(ws, Settings(home=root))


def quality_store(root: Path):
    """The real-text retrieval set stored as notes: (store, (summary, description) pairs, notes stored)."""
    pairs = title_abstract_pairs()
    store = fresh_store(root, "quality")
    notes = [{"id": f"doc-{i}", "text": body, "kind": "finding"} for i, (_, body) in enumerate(pairs)]
    notes += [{"id": f"distractor-{i}", "text": t, "kind": "finding"} for i, t in enumerate(distractors())]
    store.add_notes(notes)
    return store, pairs, notes


def bench_quality(root: Path) -> None:
    store, pairs, notes = quality_store(root)
    hits1 = hits5 = 0
    for i, (summary, _) in enumerate(pairs):
        ids = [r["id"] for r in store.recall(summary, k=5, kind="finding")]
        hits1 += ids[:1] == [f"doc-{i}"]
        hits5 += f"doc-{i}" in ids
    n = len(pairs)
    print(f"quality: {n} title->abstract queries over {len(notes)} stored documents: "
          f"recall@1 = {hits1 / n:.3f}, recall@5 = {hits5 / n:.3f}")


def sample_texts() -> tuple[list[str], list[str]]:
    pairs = title_abstract_pairs()
    notes = [s for s, _ in pairs]
    passages = [b[:1000] for _, b in pairs if len(b) >= 800]
    return notes, passages


def timed_embed(embedder: LocalEmbedder, texts: list[str]) -> tuple[int, float, float]:
    """Tokens of `texts`, and the wall and CPU seconds of embedding them."""
    tokens = sum(len(e.ids) for e in embedder._plain.encode_batch(texts))
    start, cpu = time.perf_counter(), time.process_time()
    embedder.embed(texts)
    return tokens, time.perf_counter() - start, time.process_time() - cpu


def bench_throughput() -> None:
    """Texts/s on the wall clock, and per CPU-second (steadier when other work shares the cores)."""
    notes, passages = sample_texts()
    embedder = LocalEmbedder()
    embedder.embed(notes[:16])
    for label, texts in (("notes (one-line summaries)", notes * 2), ("passages (1000 characters)", passages)):
        tokens, wall, cpu = timed_embed(embedder, texts)
        print(f"throughput: {len(texts) / wall:,.1f} texts/s ({tokens / wall:,.0f} tokens/s) for {label}, "
              f"{len(texts)} texts, onnxruntime on {_threads()} threads; {len(texts) / cpu:,.1f} texts per CPU-second")


def bench_runtimes(rounds: int = 3) -> None:
    """The bundled model on onnxruntime (today's embedder) and on OpenVINO, interleaved round by round: texts/s
    (wall, and per CPU-second) for short notes and 1,000-character passages, median of `rounds`; and the lowest
    cosine between the two runtimes' vectors over every text of the benchmark."""
    if not openvino_installed():
        print("runtimes: OpenVINO is not installed (pip install -e '.[openvino]'); nothing to compare")
        return
    notes, passages = sample_texts()
    sentences = [s for _, b in title_abstract_pairs() for s in re.split(r"(?<=[.!?])\s+", b) if 40 < len(s) < 300]
    sets = {"notes (one-line summaries)": notes * 2, "import notes (one sentence)": sentences[:3000],
            "passages (1000 characters)": passages}
    embedders = {"onnxruntime": LocalEmbedder(runtime="onnxruntime"), "openvino": LocalEmbedder(runtime="openvino")}
    import openvino

    precision = openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
    print(f"runtimes: openvino {openvino.__version__}, CPU inference precision {precision}; "
          f"{_threads()} threads each; median of {rounds} rounds, interleaved")
    for embedder in embedders.values():
        embedder.embed(notes[:16])
    for label, texts in sets.items():
        rates: dict[str, list[tuple[float, float]]] = {name: [] for name in embedders}
        vectors: dict[str, np.ndarray] = {}
        for _ in range(rounds):
            for name, embedder in embedders.items():
                start, cpu = time.perf_counter(), time.process_time()
                vectors[name] = embedder.embed(texts)
                rates[name].append((len(texts) / (time.perf_counter() - start),
                                    len(texts) / (time.process_time() - cpu)))
        wall = {name: statistics.median(w for w, _ in r) for name, r in rates.items()}
        cpu = {name: statistics.median(c for _, c in r) for name, r in rates.items()}
        worst = float((vectors["openvino"] * vectors["onnxruntime"]).sum(axis=1).min())
        print(f"runtimes: {label}, {len(texts)} texts: onnxruntime {wall['onnxruntime']:,.1f}/s "
              f"({cpu['onnxruntime']:,.1f} per CPU-s); openvino {wall['openvino']:,.1f}/s ({cpu['openvino']:,.1f} "
              f"per CPU-s): {wall['openvino'] / wall['onnxruntime']:.2f}x wall, "
              f"{cpu['openvino'] / cpu['onnxruntime']:.2f}x per CPU-s; lowest cosine {worst:.6f}")


def bench_sweep() -> None:
    """Batch size x onnxruntime intra-op threads, in texts per CPU-second, against today's setting, same run.

    Every configuration's vectors are compared with the default's (the lowest cosine over all texts).
    """
    notes, passages = sample_texts()
    notes, passages = notes[:600], passages[:96]
    default = LocalEmbedder()
    reference = {"notes": default.embed(notes), "passages": default.embed(passages)}
    rates: dict[tuple[int, int, str], float] = {}
    for batch, threads in ((8, 0), (8, 1), (16, 0), (32, 1), (64, 0), (4, 1), (8, 0)):
        embedder = LocalEmbedder(batch_size=batch, threads=threads)
        embedder.embed(notes[:16])
        for label, texts in (("notes", notes), ("passages", passages)):
            cpu = time.process_time()
            vectors = embedder.embed(texts)
            rate = len(texts) / (time.process_time() - cpu)
            rates[(batch, threads, label)] = rate  # the default runs first and last: the later figure stands
            worst = float((vectors * reference[label]).sum(axis=1).min())
            print(f"sweep: batch {batch:3d}, threads {threads or 'all'}: {label:8s} {rate:7.1f} texts per "
                  f"CPU-second, lowest cosine to the default's vectors {worst:.6f}")
    for label in ("notes", "passages"):
        best = max((r, b, t) for (b, t, lab), r in rates.items() if lab == label)
        print(f"sweep: {label}: best batch {best[1]}, threads {best[2] or 'all'} at "
              f"{best[0] / rates[(8, 0, label)]:.2f}x the default (batch 8, all threads)")


def bench_latency(root: Path, sizes: list[int]) -> None:
    notes, _ = sample_texts()
    base = LocalEmbedder().embed(notes)
    rng = np.random.default_rng(0)
    queries = notes[:200]
    for size in sizes:
        store = fresh_store(root, f"latency-{size}")
        start = time.perf_counter()
        for offset in range(0, size, 5000):
            n = min(5000, size - offset)
            idx = rng.integers(0, len(base), n)
            vecs = base[idx] + rng.normal(0, 0.03, (n, base.shape[1])).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            store.add_notes([{"id": f"x{offset + j}", "text": f"{notes[k]} (copy {offset + j})",
                              "kind": "finding"} for j, k in enumerate(idx)], vectors=vecs)
        fill = time.perf_counter() - start
        store.recall(queries[0])
        times = []
        for q in queries:
            t0 = time.perf_counter()
            store.recall(q, k=5)
            times.append((time.perf_counter() - t0) * 1000)
        p95 = statistics.quantiles(times, n=20)[-1]
        print(f"latency: recall at {size:,} items: p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms "
              f"(query embedding included; store filled in {fill:.0f}s with real vectors plus noise)")


PASSAGES_CHILD = """
import json, sys, time
from pathlib import Path
from agent_scientist.config import Settings
from agent_scientist.memory import open_memory
from agent_scientist.workspace import Workspace
root, name, texts = Path(sys.argv[1]), sys.argv[2], json.load(open(sys.argv[3]))
store = open_memory(Workspace.create(root, name), Settings(home=root))
store.embed(["warm up"])
start, cpu = time.perf_counter(), time.process_time()
store.add_passages("2401.00001v1", [{"text": t, "page_start": 1, "page_end": 1} for t in texts])
print(json.dumps([time.perf_counter() - start, time.process_time() - cpu]))
"""


def _child_env(root: Path, src: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_SCIENTIST_")}
    env.update({"AGENT_SCIENTIST_HOME": str(root), "PYTHONPATH": src})
    return env


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (the child's user + system) of one command, and its stdout."""
    before = os.times()
    start = time.perf_counter()
    # not from the checkout: `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH, so
    # a run from this tree would measure this tree as the "before" too
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system), \
        done.stdout


def bench_import(root: Path, base_src: str = "", runs: int = 1) -> None:
    """`memory import` of 3,000 notes and `add_passages` of 1,000-character passages, each in a new process;
    with --base-src DIR, main's checkout (the "before") and this tree interleaved, run by run."""
    notes, passages = sample_texts()
    sentences = [s for _, b in title_abstract_pairs() for s in re.split(r"(?<=[.!?])\s+", b) if 40 < len(s) < 300]
    texts = [f"{sentences[i % len(sentences)]} ({i})" for i in range(3000)]
    path = root / "notes.jsonl"
    with open(path, "w") as fh:
        for text in texts:
            fh.write(json.dumps({"text": text, "kind": "finding"}) + "\n")
    (root / "passages.json").write_text(json.dumps(passages))
    embedder = LocalEmbedder()
    tokens, raw_wall, raw_cpu = timed_embed(embedder, texts)
    print(f"import: the 3,000 notes average {tokens / 3000:.1f} tokens (the throughput row's one-line summaries "
          f"are shorter); the embedder alone, in this process: {3000 / raw_wall:,.0f} notes/s, "
          f"{3000 / raw_cpu:,.0f} per CPU-second")
    trees = {"after": str(ROOT)}
    if base_src:
        trees = {"before": str(Path(base_src).resolve()), **trees}
    for which, src in trees.items():  # each child imports the tree it is named for
        _, _, where = _timed([sys.executable, "-c", "import agent_scientist; print(agent_scientist.__file__)"],
                             _child_env(root, src))
        if not Path(where.strip()).is_relative_to(src):
            raise SystemExit(f"the {which!r} children import {where.strip()}, not the tree {src}")
    got: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for run in range(runs):
        for which, src in trees.items():
            env = _child_env(root, src)
            wall, cpu, _ = _timed([sys.executable, "-m", "agent_scientist", "memory", "import", str(path),
                                   "--name", f"imp-{which}-{run}"], env)
            got.setdefault((which, "import"), []).append((wall, cpu))
            _, _, out = _timed([sys.executable, "-c", PASSAGES_CHILD, str(root), f"pas-{which}-{run}",
                                str(root / "passages.json")], env)
            got.setdefault((which, "passages"), []).append(tuple(json.loads(out.strip().splitlines()[-1])))
    for (which, what), rows in got.items():
        wall, cpu = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        n, label = (3000, "notes") if what == "import" else (len(passages), "passages")
        how = ("`memory import` of 3,000 notes (real sentences), a new process, start-up included"
               if what == "import" else f"add_passages of {n} passages of 1000 characters, in a new process's store")
        ratio = ""
        if ("before", what) in got and which == "after":
            base = statistics.median(r[0] for r in got[("before", what)])
            base_cpu = statistics.median(r[1] for r in got[("before", what)])
            ratio = f"; {base / wall:.2f}x the wall rate, {base_cpu / cpu:.2f}x per CPU-second of main"
        print(f"import [{which}]: {how}: {n / wall:,.1f} {label}/s ({wall:.1f} s), "
              f"{n / cpu:,.1f} per CPU-second (median of {len(rows)}){ratio}")


def bench_context(root: Path) -> None:
    from support.scripted import ScriptedModel, code

    from agent_scientist.agent import loop
    from agent_scientist.config import load_settings
    from agent_scientist.memory.capability import MemoryCapability

    script = [code(f"print('step {i}: ' + 'observation text ' * 30)") for i in range(1, 60)]
    script.append(code('final_answer("done")'))

    def worker(messages):
        prompt = "\n".join(str(m.content) for m in messages)
        if "LESSONS" in prompt:
            return "[]"
        return "Goal: bench.\nDone: printed observations.\nKey results: none.\nErrors: none.\nState: going on."

    largest = {}
    for label, threshold in (("without trimming", 0), ("with trimming at 6,000 tokens", 6000)):
        ws = Workspace.create(root, f"context-{threshold}", "Bench question?")
        settings = load_settings({"home": str(root), "model": "scripted/test", "max_steps": 60,
                                  "context_threshold_tokens": threshold})
        with contextlib.redirect_stdout(io.StringIO()):
            loop.run(ws, settings, model=ScriptedModel(list(script)),
                        worker_model=ScriptedModel([worker] * 100), capabilities=[MemoryCapability()])
        sizes = [r["tokens_in"] for r in ws.steps() if r.get("type") == "action"]
        largest[label] = max(sizes)
        print(f"context: 60-step scripted run {label}: largest prompt {max(sizes):,} tokens, last {sizes[-1]:,}")
    a, b = largest.values()
    print(f"context: trimming makes the largest prompt {a / b:.1f}x smaller")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", action="store_true", help="also measure recall latency at 100,000 items")
    parser.add_argument("--only", default="quality,throughput,runtimes,latency,import,context")
    parser.add_argument("--base-src", default="", help="a checkout of main (`git archive main | tar -x -C DIR`): "
                        "the import rows' same-run 'before'")
    parser.add_argument("--runs", type=int, default=1, help="import rows: runs of each tree, interleaved")
    args = parser.parse_args()
    only = set(args.only.split(","))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if "quality" in only:
            bench_quality(root)
        if "throughput" in only:
            bench_throughput()
        if "runtimes" in only:
            bench_runtimes()
        if "sweep" in only:
            bench_sweep()
        if "latency" in only:
            bench_latency(root, [10_000, 100_000] if args.large else [10_000])
        if "import" in only:
            bench_import(root, args.base_src, args.runs)
        if "context" in only:
            bench_context(root)
    print(f"machine: load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
