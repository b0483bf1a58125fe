"""The workspace's vector store on chromadb: collections `notes`, `passages` and `history`.

One class made of three parts by concern: connection.py (client, collections, embeddings, writes),
notes.py (notes) and passages.py (paper passages); here `recall` across both, history summaries, and
`open_store`. Embedded (`PersistentClient` in `<workspace>/memory/`) by default, or a Chroma server when
`memory_url` is set.
"""

from __future__ import annotations

from typing import Any

from agent_scientist.config import Settings
from agent_scientist.memory.connection import (  # noqa: F401 - the store's public names, in one place
    LOCK_WAIT_S,
    WRITE_BATCH,
    MemoryUnavailable,
    StoreBase,
    _connect,
    now_iso,
    parse_url,
)
from agent_scientist.memory.notes import (  # noqa: F401
    KINDS,
    STATUSES,
    NotesMixin,
    _where,
    merge_sources,
    new_note_id,
    paper_source,
    source_matches,
)
from agent_scientist.memory.passages import PASSAGE_CHARS, PassagesMixin  # noqa: F401
from agent_scientist.workspace import Workspace


class MemoryStore(NotesMixin, PassagesMixin):
    """Notes, paper passages and history summaries of one workspace, searchable by meaning."""

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
    store = MemoryStore(client, prefix, where, settings.embedding_model, settings.api_base)
    store.exit_wait_s = settings.end_of_run_timeout
    return store
