"""Notes in the memory: their kinds, sources, and storage and search by meaning (MemoryStore's notes part).
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from agent_scientist.memory.connection import now_iso
from agent_scientist.memory.hybrid import HybridMixin
from agent_scientist.papers.ids import citation_label, match_key
from agent_scientist.records import Note, NoteHit, note_from_store, note_to_store

KINDS = ("finding", "hypothesis", "method", "result", "question", "todo", "lesson")
STATUSES = ("active", "superseded")


def new_note_id() -> str:
    return "n-" + uuid.uuid4().hex[:10]


def paper_source(paper_id: str) -> str:
    """How a paper is cited (papers/ids.py): `arXiv:2401.01234v2`, `doi:...`, `local:ab12cd34`."""
    return citation_label(paper_id)


def _norm_source(source: str) -> str:
    """A paper id as its version-free key (papers/ids.py); any other source lower-cased."""
    return match_key(source) or source.strip().lower()


def source_matches(stored: str, wanted: str) -> bool:
    """True if one of the `;`-separated sources is `wanted` (arXiv versions and prefix optional)."""
    w = _norm_source(wanted)
    return any(_norm_source(part) == w for part in stored.split(";") if part.strip())


def note_matches(note: Note, status: str = "active", kind: str = "", source: str = "") -> bool:
    """Whether a note passes recall's filters (status, kind, source; empty means any)."""
    return ((not status or note["status"] == status) and (not kind or note["kind"] == kind)
            and (not source or source_matches(note["source"], source)))


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


class NotesMixin(HybridMixin):
    """Notes: add, read, update, retire, list and find nearest."""

    # -- notes ------------------------------------------------------------
    def add_notes(self, notes: list[Note], vectors: np.ndarray | None = None) -> list[str]:
        """Store notes (dicts with text, kind, ...) as they are; returns their ids. No consolidation."""
        ids = [n.get("id") or new_note_id() for n in notes]
        self._write(self.notes, ids, [n["text"] for n in notes], [note_to_store(n, now_iso()) for n in notes], vectors)
        self.lexical.add([{"id": i, "text": n["text"], "kind": "note"} for i, n in zip(ids, notes, strict=True)])
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
            self.lexical.add([{"id": note["id"], "text": note["text"], "kind": "note"}])

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
                      kind: str = "", source: str = "") -> list[NoteHit]:
        """Notes nearest to a vector, each with its `similarity` (cosine), best first.

        Filters are applied to an oversampled unfiltered search first: chromadb's metadata filter
        costs a scan of the collection (30 ms at 10,000 notes), the plain vector search about 1 ms.
        """
        total = self.count_notes()
        if total == 0 or n <= 0:
            return []

        def keep(note: NoteHit) -> bool:
            return note_matches(note, status, kind, source)

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

    def _query_notes(self, vector: np.ndarray, want: int, where: dict[str, Any] | None) -> list[NoteHit]:
        res = self.notes.query(query_embeddings=[vector.tolist()], n_results=want, where=where,
                               include=["documents", "metadatas", "distances"])
        return [{**note_from_store(i, d, m), "similarity": round(1.0 - float(dist), 4)}
                for i, d, m, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0],
                                         res["distances"][0], strict=False)]

    def _scan_notes(self, vector: np.ndarray, conds: list[dict[str, Any]], source: str) -> list[NoteHit]:
        got = self.notes.get(where=_where(conds), include=["documents", "metadatas", "embeddings"])
        out: list[NoteHit] = []
        for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=False):
            note = note_from_store(i, d, m)
            if source_matches(note["source"], source):
                out.append({**note, "similarity": round(float(np.dot(np.asarray(e), vector)), 4)})
        return sorted(out, key=lambda x: -x["similarity"])

