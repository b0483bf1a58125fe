"""The memory's connection: chromadb embedded in <workspace>/memory/ or a Chroma server, its collections,
embeddings from our own embedder, and batched writes. A store that cannot be opened raises
MemoryUnavailable with a message saying what to do.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from agent_scientist.config import Settings
from agent_scientist.memory.embedding import EmbeddingError, get_embedder
from agent_scientist.memory.readonly import ReadOnlyClient, open_reader
from agent_scientist.records import Chunk
from agent_scientist.workspace import Workspace
from agent_scientist.workspace import now_iso as workspace_now_iso

if TYPE_CHECKING:
    import numpy as np

LOCK_WAIT_S = 5.0  # how long to wait for another process's write lock before giving up
WRITE_BATCH = 256  # rows per chromadb write (also bounded by the client's own maximum)
COLLECTIONS = ("notes", "passages", "history")


class MemoryUnavailable(Exception):
    """The memory store cannot be used; the message says why and what to do."""


def now_iso() -> str:
    """workspace.now_iso with microseconds, so notes written in the same second keep their order."""
    return workspace_now_iso("microseconds")


def parse_url(url: str) -> tuple[str, int, bool]:
    """host, port, ssl of a Chroma server URL such as `http://127.0.0.1:8000` (port 8000 by default)."""
    parsed = urlparse(url if "://" in url else f"http://{url}")
    ssl = parsed.scheme == "https"
    return parsed.hostname or "localhost", parsed.port or (443 if ssl else 8000), ssl


def _connect(ws: Workspace, settings: Settings) -> tuple[Any, str, str]:
    """A chromadb client, the collection-name prefix, and a description of where the store is."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.memory_url:
        host, port, ssl = parse_url(settings.memory_url)
        where = f"Chroma server {'https' if ssl else 'http'}://{host}:{port}"
        try:
            client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings)
            client.heartbeat()
        except Exception as exc:
            raise MemoryUnavailable(
                f"{where} is not reachable ({type(exc).__name__}: {str(exc)[:200]}). Start it "
                f"(`chroma run --path DIR --host {host} --port {port}`) or unset memory_url to use "
                "the embedded store in the workspace."
            ) from None
        # One server holds many workspaces: prefix the collections with the workspace name.
        return client, f"as-{re.sub(r'[^A-Za-z0-9_-]', '-', ws.name)}-", where
    where = str(ws.memory_dir)
    if ws.memory_dir.exists() and not ws.memory_dir.is_dir():
        raise MemoryUnavailable(_broken(where, "it is not a directory"))
    if (ws.memory_dir / "chroma.sqlite3").exists():
        _check_sqlite(ws.memory_dir / "chroma.sqlite3", where)
    try:
        ws.memory_dir.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=where, settings=chroma_settings)
    except Exception as exc:
        raise MemoryUnavailable(_broken(where, f"{type(exc).__name__}: {str(exc)[:200]}")) from None
    return client, "", where


def _connect_for_reading(ws: Workspace, settings: Settings) -> tuple[Any, str, str]:
    """Like _connect, with readonly.py's reader of chromadb's core where it can open the store (no import of
    chromadb; a write hands over to the client), else the client."""
    if not settings.memory_url and (ws.memory_dir / "chroma.sqlite3").is_file():
        _check_sqlite(ws.memory_dir / "chroma.sqlite3", str(ws.memory_dir))  # the same clear message when locked
        reader = open_reader(ws.memory_dir, settings, COLLECTIONS)
        if reader is not None:
            return reader, "", str(ws.memory_dir)
    return _connect(ws, settings)


def _check_sqlite(db: Path, where: str) -> None:
    """Fail fast on a locked or corrupt database file: chromadb itself would wait for a lock for minutes."""
    import sqlite3

    try:
        con = sqlite3.connect(str(db), timeout=LOCK_WAIT_S, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            con.execute("ROLLBACK")
        finally:
            con.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise MemoryUnavailable(
                f"The memory store in {where} is locked by another process (another agent-scientist command on "
                "this workspace?). Nothing was changed; try again when that process has finished."
            ) from None
        raise MemoryUnavailable(_broken(where, f"sqlite: {exc}")) from None
    except sqlite3.DatabaseError as exc:
        raise MemoryUnavailable(_broken(where, f"sqlite: {exc}")) from None


def _broken(where: str, why: str) -> str:
    return (
        f"The memory store in {where} cannot be opened ({why}). It may be corrupt or locked by another "
        f"process. Nothing was changed. To start a fresh memory, stop other runs on this workspace or move "
        f"the folder away (`mv {where} {where}.broken`)."
    )


class StoreBase:
    """The open collections (`notes`, `passages`, `history`) and how vectors are made and written."""

    def __init__(self, client: Any, prefix: str, where: str, embedding_model: str, api_base: str = "",
                 embedding_runtime: str = "onnxruntime"):
        self.where = where
        self.embedding_model = embedding_model or "local"
        self._api_base = api_base
        self.embedding_runtime = embedding_runtime  # resolved (embedding.resolve_runtime)
        self._attach(client, prefix)
        # how long the process may wait at exit for passages still being indexed (seconds, or a function giving them)
        self.exit_wait_s: float | Callable[[], float] = 15.0
        self._indexing: threading.Thread | None = None
        self._queue: list[tuple[str, list[Chunk]]] = []
        self._pending: set[str] = set()  # papers queued or being indexed
        self._queue_lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()

    def _attach(self, client: Any, prefix: str) -> dict[str, Any]:
        """Open the collections on `client` (a chromadb client, or readonly.py's reader): {name: collection}."""
        ef = None
        if not isinstance(client, ReadOnlyClient):  # the reader embeds nothing and imports no chromadb
            from agent_scientist.memory.embedding import chroma_embedding_function

            ef = chroma_embedding_function(self.embedding_model, self._api_base)
        try:
            cols = {}
            for name in COLLECTIONS:
                cols[name] = client.get_or_create_collection(
                    prefix + name, embedding_function=ef, configuration={"hnsw": {"space": "cosine"}},
                    metadata={"embedding_model": self.embedding_model},
                )
        except Exception as exc:
            raise MemoryUnavailable(_broken(self.where, f"{type(exc).__name__}: {str(exc)[:200]}")) from None
        built_with = (cols["notes"].metadata or {}).get("embedding_model", self.embedding_model)
        if built_with != self.embedding_model:
            raise MemoryUnavailable(
                f"The memory in {self.where} was built with embedding model {built_with!r}, not "
                f"{self.embedding_model!r}. Set embedding_model = {built_with!r}, or move the memory away."
            )
        self.client = client
        self.notes, self.passages, self.history = cols["notes"], cols["passages"], cols["history"]
        try:
            self.batch = max(1, min(WRITE_BATCH, int(client.get_max_batch_size())))
        except Exception:
            self.batch = WRITE_BATCH
        return cols

    # -- embeddings -------------------------------------------------------
    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors for texts; an embedding failure becomes MemoryUnavailable with the reason."""
        try:
            return get_embedder(self.embedding_model, self._api_base, self.embedding_runtime).embed(texts)
        except EmbeddingError as exc:
            raise MemoryUnavailable(str(exc)) from None

    def _write(self, collection: Any, ids: list[str], texts: list[str], metas: Sequence[Mapping[str, Any]],
               vectors: np.ndarray | None = None) -> None:
        for start in range(0, len(ids), self.batch):
            end = start + self.batch
            vecs = vectors[start:end] if vectors is not None else self.embed(texts[start:end])
            collection.upsert(ids=ids[start:end], documents=texts[start:end], metadatas=metas[start:end],
                              embeddings=[v.tolist() for v in vecs])

