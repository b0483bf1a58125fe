"""The workspace's vector store on chromadb: collections `notes`, `passages` and `history`.

One class made of three parts by concern: connection.py (client, collections, embeddings, writes),
notes.py (notes) and passages.py (paper passages); here `recall` across both, history summaries, and
`open_store`. Embedded (`PersistentClient` in `<workspace>/memory/`) by default, or a Chroma server when
`memory_url` is set.
"""

from __future__ import annotations

from agent_scientist.config import Settings
from agent_scientist.memory.connection import (  # noqa: F401 - the store's public names, in one place
    LOCK_WAIT_S,
    WRITE_BATCH,
    MemoryUnavailable,
    ReadOnlyClient,
    StoreBase,
    _connect,
    _connect_for_reading,
    now_iso,
    parse_url,
)
from agent_scientist.memory.embedding import resolve_runtime
from agent_scientist.memory.hybrid import LEXICAL_FILE, PER_PAPER, POOL, beside, diverse, fuse
from agent_scientist.memory.notes import (  # noqa: F401
    KINDS,
    STATUSES,
    NotesMixin,
    _norm_source,
    _where,
    merge_sources,
    new_note_id,
    note_matches,
    paper_source,
    source_matches,
)
from agent_scientist.memory.passages import PASSAGE_CHARS, PassagesMixin  # noqa: F401
from agent_scientist.records import (
    HistorySummary,
    Note,
    PassageHit,
    RecallHit,
    SummaryMeta,
    summary_from_store,
)
from agent_scientist.workspace import Workspace


class MemoryStore(NotesMixin, PassagesMixin):
    """Notes, paper passages and history summaries of one workspace, searchable by meaning."""

    # -- recall -----------------------------------------------------------
    def recall(self, query: str, k: int = 5, kind: str = "", source: str = "") -> list[RecallHit]:
        """Notes and passages ranked by relevance (dense and lexical fused): id, text, kind, source, page, score.

        Active notes of every kind plus passages by default; kind "passage" gives passages only,
        kind "superseded" the retired notes, any other kind the active notes of that kind. At most
        PER_PAPER passages of one paper.
        """
        pool = max(POOL, 4 * k)
        self.wait_indexed()
        base = _norm_source(source) if source else ""
        note_hits = beside(self.lexical.search, query, pool, kind="note") if kind != "passage" else None
        passage_hits = beside(self.lexical.search, query, pool, kind="passage", base=base) \
            if kind in ("", "passage") else None
        vector = self.embed([query])[0]
        dense: list[tuple[float, RecallHit]] = []
        lexical: list[tuple[float, str]] = []
        rows: dict[str, RecallHit] = {}
        status, note_kind = ("superseded", "") if kind == "superseded" else ("active", kind)
        if kind != "passage":
            for n in self.nearest_notes(vector, pool, status=status, kind=note_kind, source=source):
                rows[n["id"]] = self._note_row(n, status)
                dense.append((n["similarity"], rows[n["id"]]))
            hits = dict(note_hits.result()) if note_hits else {}
            for found in self.get_notes([i for i in hits if i not in rows]):
                if note_matches(found, status, note_kind, source):
                    rows[found["id"]] = self._note_row(found, status)
            lexical += [(s, i) for i, s in hits.items() if i in rows]
        if kind in ("", "passage"):
            for p in self.nearest_passages(vector, pool, source=source):
                rows[p["id"]] = self._passage_row(p)
                dense.append((p["score"], rows[p["id"]]))
            hits = dict(passage_hits.result()) if passage_hits else {}
            for i, p in self._passage_rows([i for i in hits if i not in rows]).items():
                rows[i] = self._passage_row(p)
            lexical += [(s, i) for i, s in hits.items() if i in rows]
        scores = fuse([r["id"] for _, r in sorted(dense, key=lambda x: -x[0])],
                      [i for _, i in sorted(lexical, key=lambda x: -x[0])])
        ranked: list[RecallHit] = [{**r, "score": round(scores.get(r["id"], 0.0), 5)}
                                   for r in sorted(rows.values(), key=lambda r: -scores.get(r["id"], 0.0))]
        return diverse(ranked, k, PER_PAPER, key="paper_id")

    @staticmethod
    def _note_row(n: Note, status: str) -> RecallHit:
        row = RecallHit(id=n["id"], text=n["text"], kind=n["kind"], source=n["source"], page=n["page"])
        if status != "active":
            row["status"] = status
        return row

    @staticmethod
    def _passage_row(p: PassageHit) -> RecallHit:
        text = p["text"]
        if len(text) > PASSAGE_CHARS:
            text = text[:PASSAGE_CHARS] + " [...cut: read the page for the rest]"
        return RecallHit(id=p["id"], text=text, kind="passage", source=paper_source(p["paper_id"]),
                         page=p["page_start"], page_end=p["page_end"], paper_id=p["paper_id"])

    # -- history ----------------------------------------------------------
    def add_summary(self, first: int, last: int, text: str) -> None:
        """Keep a trimmed-history summary, searchable later."""
        meta = SummaryMeta(first=int(first), last=int(last), created_at=now_iso())
        self._write(self.history, [f"summary-{first}-{last}"], [text], [meta])

    def summaries(self) -> list[HistorySummary]:
        got = self.history.get(include=["documents", "metadatas"])
        rows = [summary_from_store(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"],
                                                               strict=False)]
        return sorted(rows, key=lambda r: (r["first"], r["last"]))


def open_store(ws: Workspace, settings: Settings, for_reading: bool = False) -> MemoryStore:
    """The workspace's store (embedded or on the configured server), or MemoryUnavailable.

    `for_reading`: a command that mostly reads (`memory search`, `papers read --query`) opens an embedded
    store through chromadb's core without importing chromadb (readonly.py), and the client only if it writes.
    """
    client, prefix, where = (_connect_for_reading if for_reading else _connect)(ws, settings)
    store = MemoryStore(client, prefix, where, settings.embedding_model, settings.api_base,
                        resolve_runtime(settings.embedding_runtime))
    if isinstance(client, ReadOnlyClient):
        client.handover = lambda: store._attach(*_connect(ws, settings)[:2])
    store.exit_wait_s = settings.end_of_run_timeout
    store.lexical_path = ws.memory_dir / LEXICAL_FILE
    store.sync_lexical()  # opens the lexical index, repairing it if a crash left it behind the store
    return store
