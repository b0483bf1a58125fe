"""The workspace's vector store on chromadb: collections `notes`, `passages` and `history`.

Embedded (`PersistentClient` in `<workspace>/memory/`) by default, or a Chroma server when
`memory_url` is set. Vectors come from our own embedder (never chromadb's downloading default).
A store that cannot be opened raises MemoryUnavailable with a message saying what to do.
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from agent_scientist.config import Settings
from agent_scientist.memory.embedding import EmbeddingError, get_embedder
from agent_scientist.records import Note, note_from_store, note_to_store
from agent_scientist.workspace import Workspace
from agent_scientist.workspace import now_iso as workspace_now_iso

log = logging.getLogger(__name__)

KINDS = ("finding", "hypothesis", "method", "result", "question", "todo", "lesson")
STATUSES = ("active", "superseded")
LOCK_WAIT_S = 5.0  # how long to wait for another process's write lock before giving up
WRITE_BATCH = 256  # rows per chromadb write (also bounded by the client's own maximum)
PASSAGE_CHARS = 800  # passage text returned by recall(); the paper itself has the rest


class MemoryUnavailable(Exception):
    """The memory store cannot be used; the message says why and what to do."""


def now_iso() -> str:
    """workspace.now_iso with microseconds, so notes written in the same second keep their order."""
    return workspace_now_iso("microseconds")


def new_note_id() -> str:
    return "n-" + uuid.uuid4().hex[:10]


def paper_source(paper_id: str) -> str:
    """How a paper is cited: `arXiv:2401.01234v2` or `local:ab12cd34`."""
    return paper_id if paper_id.startswith("local:") else f"arXiv:{paper_id}"


def _norm_source(source: str) -> str:
    s = source.strip().lower()
    s = s.removeprefix("arxiv:").strip()
    return re.sub(r"v\d+$", "", s) if re.match(r"^(\d{4}\.\d{4,5}|[a-z-]+(\.[a-z]{2})?/\d{7})v\d+$", s) else s


def source_matches(stored: str, wanted: str) -> bool:
    """True if one of the `;`-separated sources is `wanted` (arXiv versions and prefix optional)."""
    w = _norm_source(wanted)
    return any(_norm_source(part) == w for part in stored.split(";") if part.strip())


def merge_sources(a: str, b: str) -> str:
    parts: list[str] = []
    for part in (a.split(";") + b.split(";")):
        part = part.strip()
        if part and part not in parts:
            parts.append(part)
    return "; ".join(parts)


def _where(conds: list[dict[str, Any]]) -> dict[str, Any] | None:
    conds = [c for c in conds if c]
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else {"$and": conds}


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


class MemoryStore:
    """Notes, paper passages and history summaries of one workspace, searchable by meaning."""

    def __init__(self, client: Any, prefix: str, where: str, embedding_model: str, api_base: str = ""):
        from agent_scientist.memory.embedding import chroma_embedding_function

        self.client, self.where = client, where
        self.embedding_model = embedding_model or "local"
        self._api_base = api_base
        ef = chroma_embedding_function(self.embedding_model, api_base)
        try:
            cols = {}
            for name in ("notes", "passages", "history"):
                cols[name] = client.get_or_create_collection(
                    prefix + name, embedding_function=ef, configuration={"hnsw": {"space": "cosine"}},
                    metadata={"embedding_model": self.embedding_model},
                )
        except Exception as exc:
            raise MemoryUnavailable(_broken(where, f"{type(exc).__name__}: {str(exc)[:200]}")) from None
        self.notes, self.passages, self.history = cols["notes"], cols["passages"], cols["history"]
        built_with = (self.notes.metadata or {}).get("embedding_model", self.embedding_model)
        if built_with != self.embedding_model:
            raise MemoryUnavailable(
                f"The memory in {where} was built with embedding model {built_with!r}, not "
                f"{self.embedding_model!r}. Set embedding_model = {built_with!r}, or move the memory away."
            )
        try:
            self.batch = max(1, min(WRITE_BATCH, int(client.get_max_batch_size())))
        except Exception:
            self.batch = WRITE_BATCH

    # -- embeddings -------------------------------------------------------
    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors for texts; an embedding failure becomes MemoryUnavailable with the reason."""
        try:
            return get_embedder(self.embedding_model, self._api_base).embed(texts)
        except EmbeddingError as exc:
            raise MemoryUnavailable(str(exc)) from None

    def _write(self, collection: Any, ids: list[str], texts: list[str], metas: list[dict],
               vectors: np.ndarray | None = None) -> None:
        for start in range(0, len(ids), self.batch):
            end = start + self.batch
            vecs = vectors[start:end] if vectors is not None else self.embed(texts[start:end])
            collection.upsert(ids=ids[start:end], documents=texts[start:end], metadatas=metas[start:end],
                              embeddings=[v.tolist() for v in vecs])

    # -- notes ------------------------------------------------------------
    def add_notes(self, notes: list[Note], vectors: np.ndarray | None = None) -> list[str]:
        """Store notes (dicts with text, kind, ...) as they are; returns their ids. No consolidation."""
        ids = [n.get("id") or new_note_id() for n in notes]
        self._write(self.notes, ids, [n["text"] for n in notes], [note_to_store(n, now_iso()) for n in notes], vectors)
        return ids

    def get_notes(self, ids: list[str]) -> list[Note]:
        if not ids:
            return []
        got = self.notes.get(ids=ids, include=["documents", "metadatas"])
        found = {i: note_from_store(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"],
                                                             strict=False)}
        return [found[i] for i in ids if i in found]

    def update_note(self, note: Note) -> None:
        """Rewrite one note (text and metadata), re-embedding it only if the text changed."""
        note = {**note, "updated_at": now_iso()}
        stored = self.get_notes([note["id"]])
        if stored and stored[0]["text"] == note["text"]:
            self.notes.update(ids=[note["id"]], metadatas=[note_to_store(note, now_iso())])
        else:
            self._write(self.notes, [note["id"]], [note["text"]], [note_to_store(note, now_iso())])

    def set_status(self, note_id: str, status: str) -> None:
        current = self.get_notes([note_id])
        if current:
            meta = note_to_store({**current[0], "status": status, "updated_at": now_iso()}, now_iso())
            self.notes.update(ids=[note_id], metadatas=[meta])

    def list_notes(self, kinds: list[str] | None = None, status: str | None = "active") -> list[Note]:
        """All notes matching, ordered by (created_at, id)."""
        conds: list[dict[str, Any]] = []
        if status and status != "all":
            conds.append({"status": status})
        if kinds:
            conds.append({"kind": {"$in": list(kinds)}} if len(kinds) > 1 else {"kind": kinds[0]})
        got = self.notes.get(where=_where(conds), include=["documents", "metadatas"])
        notes = [note_from_store(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"],
                                                         strict=False)]
        return sorted(notes, key=lambda n: (n["created_at"], n["id"]))

    def count_notes(self) -> int:
        return int(self.notes.count())

    def nearest_notes(self, vector: np.ndarray, n: int = 4, status: str = "active",
                      kind: str = "", source: str = "") -> list[dict[str, Any]]:
        """Notes nearest to a vector, each with a `score` (cosine similarity), best first.

        Filters are applied to an oversampled unfiltered search first: chromadb's metadata filter
        costs a scan of the collection (30 ms at 10,000 notes), the plain vector search about 1 ms.
        """
        total = self.count_notes()
        if total == 0 or n <= 0:
            return []

        def keep(note: dict[str, Any]) -> bool:
            return ((not status or note["status"] == status) and (not kind or note["kind"] == kind)
                    and (not source or source_matches(note["source"], source)))

        want = min(total, max(n * 4, 20))
        out = [x for x in self._query_notes(vector, want, None) if keep(x)]
        if len(out) < n and want < total:  # the matching notes rank further down: let chromadb filter
            conds: list[dict[str, Any]] = [{"status": status}] if status else []
            if kind:
                conds.append({"kind": kind})
            want = min(total, max(n * 20, 50) if source else n)
            out = [x for x in self._query_notes(vector, want, _where(conds)) if keep(x)]
            if source and len(out) < n and want < total:
                out = self._scan_notes(vector, conds, source)  # rare: the source's notes rank far down
        return out[:n]

    def _query_notes(self, vector: np.ndarray, want: int, where: dict[str, Any] | None) -> list[dict[str, Any]]:
        res = self.notes.query(query_embeddings=[vector.tolist()], n_results=want, where=where,
                               include=["documents", "metadatas", "distances"])
        return [{**note_from_store(i, d, m), "score": round(1.0 - float(dist), 4)}
                for i, d, m, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0],
                                         res["distances"][0], strict=False)]

    def _scan_notes(self, vector: np.ndarray, conds: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
        got = self.notes.get(where=_where(conds), include=["documents", "metadatas", "embeddings"])
        out = []
        for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=False):
            note = note_from_store(i, d, m)
            if source_matches(note["source"], source):
                out.append({**note, "score": round(float(np.dot(np.asarray(e), vector)), 4)})
        return sorted(out, key=lambda x: -x["score"])

    # -- passages ---------------------------------------------------------
    def add_passages(self, paper_id: str, chunks: list[dict[str, Any]]) -> int:
        """Store a paper's text chunks, replacing any stored before (idempotent per paper)."""
        self.passages.delete(where={"paper_id": paper_id})
        chunks = [c for c in chunks if str(c.get("text") or "").strip()]
        ids = [f"{paper_id}#{i}" for i in range(len(chunks))]
        metas = [{"paper_id": paper_id, "paper_base": _norm_source(paper_source(paper_id)),
                  "page_start": int(c.get("page_start") or 0),
                  "page_end": int(c.get("page_end") or c.get("page_start") or 0)} for c in chunks]
        self._write(self.passages, ids, [str(c["text"]) for c in chunks], metas)
        return len(ids)

    def has_passages(self, paper_id: str) -> bool:
        return bool(self.passages.get(where={"paper_id": paper_id}, limit=1, include=[])["ids"])

    def search_passages(self, query: str, k: int = 5, paper_id: str = "") -> list[dict[str, Any]]:
        """Passages ranked by relevance to `query`: text, paper_id, page_start, page_end, score."""
        return self.nearest_passages(self.embed([query])[0], k, paper_id)

    def nearest_passages(self, vector: np.ndarray, k: int = 5, paper_id: str = "",
                         source: str = "") -> list[dict[str, Any]]:
        """Passages nearest to a vector, optionally of one paper (exact id, or a source with any version)."""
        total = int(self.passages.count())
        if total == 0 or k <= 0:
            return []
        where = {"paper_id": paper_id} if paper_id else ({"paper_base": _norm_source(source)} if source else None)
        res = self.passages.query(query_embeddings=[vector.tolist()], n_results=min(k, total), where=where,
                                  include=["documents", "metadatas", "distances"])
        out = []
        for i, d, m, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0],
                                 strict=False):
            out.append({"id": i, "text": d, "paper_id": m.get("paper_id", ""),
                        "page_start": int(m.get("page_start") or 0), "page_end": int(m.get("page_end") or 0),
                        "score": round(1.0 - float(dist), 4)})
        return out

    # -- recall -----------------------------------------------------------
    def recall(self, query: str, k: int = 5, kind: str = "", source: str = "") -> list[dict[str, Any]]:
        """Notes and passages ranked by relevance: id, text, kind, source, page, score.

        Active notes of every kind plus passages by default; kind "passage" gives passages only,
        kind "superseded" the retired notes, any other kind the active notes of that kind.
        """
        vector = self.embed([query])[0]
        results: list[dict[str, Any]] = []
        if kind != "passage":
            status, note_kind = ("superseded", "") if kind == "superseded" else ("active", kind)
            for n in self.nearest_notes(vector, k, status=status, kind=note_kind, source=source):
                row = {key: n[key] for key in ("id", "text", "kind", "source", "page", "score")}
                if status != "active":
                    row["status"] = status
                results.append(row)
        if kind in ("", "passage"):
            for p in self.nearest_passages(vector, k, source=source):
                text = p["text"]
                if len(text) > PASSAGE_CHARS:
                    text = text[:PASSAGE_CHARS] + " [...cut: read the page for the rest]"
                results.append({"id": p["id"], "text": text, "kind": "passage",
                                "source": paper_source(p["paper_id"]), "page": p["page_start"],
                                "page_end": p["page_end"], "score": p["score"]})
        results.sort(key=lambda r: -r["score"])
        return results[:k]

    # -- history ----------------------------------------------------------
    def add_summary(self, first: int, last: int, text: str) -> None:
        """Keep a trimmed-history summary, searchable later."""
        meta = {"first": int(first), "last": int(last), "created_at": now_iso()}
        self._write(self.history, [f"summary-{first}-{last}"], [text], [meta])

    def summaries(self) -> list[dict[str, Any]]:
        got = self.history.get(include=["documents", "metadatas"])
        rows = [{"id": i, "text": d, **(m or {})} for i, d, m in zip(got["ids"], got["documents"],
                                                                      got["metadatas"], strict=False)]
        return sorted(rows, key=lambda r: (r.get("first", 0), r.get("last", 0)))


def open_store(ws: Workspace, settings: Settings) -> MemoryStore:
    """The workspace's store (embedded or on the configured server), or MemoryUnavailable."""
    client, prefix, where = _connect(ws, settings)
    return MemoryStore(client, prefix, where, settings.embedding_model, settings.api_base)
