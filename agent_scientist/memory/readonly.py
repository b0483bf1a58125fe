"""Reading the embedded store through chromadb's own Rust core (`chromadb_rust_bindings.Bindings`, what
`chromadb.api.rust` wraps) without importing the `chromadb` package, whose `__init__` imports every
embedding function, httpx, jsonschema and OpenTelemetry (~1 s of CPU: more than the rest of a search).

Used by `memory search` and `papers read --query` (`open_store(..., for_reading=True)`). It opens the same
files the client does, with migrations validated, never applied, and answers `get`, `query` and `count` as
chromadb's `Collection` does (same ids, documents, metadata and distances). The first write (a paper whose
passages are not indexed yet) hands over to the full chromadb client, opened then. Anything it does not
know falls back to the client: a Chroma server, an embedding API model, a store not made yet, a chromadb
version it was not tested with, or any error opening it (the reason is logged at debug level).

chromadb's core itself writes on every open, through the client as here: one row in its `acquire_write`
table when it starts, and each vector segment's `length.bin` when the segment loads. Nothing else changes.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_scientist.config import Settings
from agent_scientist.memory.embedding import LOCAL_NAME

log = logging.getLogger(__name__)

# The Bindings' constructor, the argument order of get/query/count and the shape of their answers are
# chromadb's internals, not its public API: they changed between 1.x releases and may again. So this path is
# taken only for the versions whose answers tests/test_memory_readonly.py compared with the client's; any
# other version uses the client. Add a version here after running that test file under it.
TESTED_VERSIONS = ("1.5.9",)
# chromadb.config.DEFAULT_TENANT / DEFAULT_DATABASE: where PersistentClient keeps its collections.
TENANT, DATABASE = "default_tenant", "default_database"
EMBEDDING_FUNCTION = "agent_scientist"  # the name connection.py's chromadb embedding function persists
GET_INCLUDE = ("metadatas", "documents")  # chromadb Collection.get's default
QUERY_INCLUDE = ("metadatas", "documents", "distances")  # and Collection.query's


def chromadb_version() -> str:
    """The installed chromadb's version, read from its package metadata (no import of chromadb)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chromadb")
    except PackageNotFoundError:
        return ""


def open_reader(memory_dir: Path, settings: Settings, names: tuple[str, ...]) -> ReadOnlyClient | None:
    """A reader of the embedded store in `memory_dir` with the collections `names`, or None (the client's turn)."""
    why = ""
    if settings.memory_url:
        why = "the memory is on a Chroma server"
    elif (settings.embedding_model or LOCAL_NAME) != LOCAL_NAME:
        why = f"embedding model {settings.embedding_model!r} is an API model"
    elif not (memory_dir / "chroma.sqlite3").is_file():
        why = "no store yet"
    elif (installed := chromadb_version()) not in TESTED_VERSIONS:
        why = f"chromadb {installed or '(not installed)'} is not one it was tested with {TESTED_VERSIONS}"
    if why:
        log.debug("memory: opening through the chromadb client: %s", why)
        return None
    try:
        return ReadOnlyClient(memory_dir, names)
    except Exception as exc:  # noqa: BLE001 - any failure here is the client's to report, or to get past
        log.debug("memory: opening through the chromadb client: its core did not open the store (%s: %s)",
                  type(exc).__name__, exc)
        return None


class ReadOnlyClient:
    """chromadb's Rust core on one persisted store, for reading; `writable` hands over to the full client."""

    def __init__(self, memory_dir: Path, names: tuple[str, ...]):
        import resource

        import chromadb_rust_bindings as rust

        config = rust.SqliteDBConfig(hash_type=rust.MigrationHash.MD5,  # chromadb's default hash
                                     migration_mode=rust.MigrationMode.Validate,
                                     url=str(memory_dir / "chroma.sqlite3"))
        # chromadb.api.rust: each HNSW index holds 4 data files and 1 metadata file open
        cache = resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 5
        self._bindings: Any = rust.Bindings(allow_reset=False, sqlite_db_config=config,
                                            persist_path=str(memory_dir), hnsw_cache_size=cache)
        self.collections: dict[str, ReadOnlyCollection] = {}
        for name in names:
            model = self._bindings.get_collection(name, TENANT, DATABASE)
            function = ((model.configuration or {}).get("embedding_function") or {}).get("name")
            if function != EMBEDDING_FUNCTION:  # the client would check it against ours: let it
                raise ValueError(f"collection {name!r} was made with embedding function {function!r}")
            self.collections[name] = ReadOnlyCollection(self, name, str(model.id), model.metadata)
        self.handover: Callable[[], dict[str, Any]] | None = None  # set by the store: opens the full client
        self._full: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def get_or_create_collection(self, name: str, **_: Any) -> ReadOnlyCollection:
        """The collection opened with the client (StoreBase's call; it exists, or the client is used)."""
        return self.collections[name]

    def get_max_batch_size(self) -> int:
        return int(self._bindings.get_max_batch_size())

    def full(self, name: str) -> Any:
        """The full chromadb client's collection `name`, opened on the first call (a write, or a read after one)."""
        with self._lock:
            if self._full is None:
                if self.handover is None:
                    raise RuntimeError("this memory store was opened for reading only")
                log.debug("memory: a write: handing over to the chromadb client")
                self._full = self.handover()
                self._bindings = None  # the core's caches would go stale: every call goes to the client now
        return self._full[name]

    @property
    def core(self) -> Any:
        """chromadb's core, or None once handed over (a call that took it before still answers from it)."""
        return self._bindings


class ReadOnlyCollection:
    """The parts of chromadb's `Collection` the store reads with, answering as it does; writes hand over."""

    def __init__(self, client: ReadOnlyClient, name: str, collection_id: str, metadata: dict[str, Any] | None):
        self._client, self.name, self._id, self.metadata = client, name, collection_id, metadata

    def count(self) -> int:
        core = self._client.core
        if core is None:
            return int(self._client.full(self.name).count())
        return int(core.count(self._id, TENANT, DATABASE))

    def get(self, ids: list[str] | None = None, where: dict[str, Any] | None = None,
            include: list[str] | tuple[str, ...] = GET_INCLUDE) -> dict[str, Any]:
        core = self._client.core
        if core is None:
            return dict(self._client.full(self.name).get(ids=ids, where=where, include=list(include)))
        got = core.get(self._id, ids, json.dumps(where) if where else None, None, 0, None,
                       list(include), TENANT, DATABASE)
        embeddings = got.embeddings
        if "embeddings" in include:  # chromadb's Collection.get answers them as one array
            import numpy as np

            embeddings = np.array(embeddings)
        return {"ids": got.ids, "documents": got.documents, "metadatas": got.metadatas,
                "embeddings": embeddings, "uris": None, "included": list(include)}

    def query(self, query_embeddings: list[list[float]], n_results: int = 10, where: dict[str, Any] | None = None,
              include: list[str] | tuple[str, ...] = QUERY_INCLUDE) -> dict[str, Any]:
        core = self._client.core
        if core is None:
            return dict(self._client.full(self.name).query(query_embeddings=query_embeddings, n_results=n_results,
                                                            where=where, include=list(include)))
        import numpy as np

        # as chromadb normalises them before its core sees them: one float32 array per query
        vectors = [np.array(v, dtype=np.float32) for v in query_embeddings]
        got = core.query(self._id, None, vectors, n_results, json.dumps(where) if where else None,
                         None, list(include), TENANT, DATABASE)
        embeddings = got.embeddings
        if "embeddings" in include and embeddings is not None:
            embeddings = [np.array(e) for e in embeddings]
        return {"ids": got.ids, "documents": got.documents, "metadatas": got.metadatas, "distances": got.distances,
                "embeddings": embeddings, "uris": None, "included": list(include)}

    # -- writes: the full client does them --------------------------------
    def upsert(self, **kwargs: Any) -> Any:
        return self._client.full(self.name).upsert(**kwargs)

    def update(self, **kwargs: Any) -> Any:
        return self._client.full(self.name).update(**kwargs)

    def delete(self, **kwargs: Any) -> Any:
        return self._client.full(self.name).delete(**kwargs)

    def add(self, **kwargs: Any) -> Any:
        return self._client.full(self.name).add(**kwargs)
