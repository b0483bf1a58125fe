"""Paper passages in the memory: indexed once per paper (in the background after a read) and searched
by meaning (MemoryStore's passages part).
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any

import numpy as np

from agent_scientist.memory.hybrid import PER_PAPER, POOL, HybridMixin, beside, diverse, fuse
from agent_scientist.memory.notes import _norm_source, paper_source
from agent_scientist.records import Chunk, PassageHit, PassageMeta, passage_from_store

log = logging.getLogger(__name__)

PASSAGE_CHARS = 800  # passage text returned by recall(); the paper itself has the rest


def passage_id(paper_id: str, n: int) -> str:
    """The id of a paper's n-th passage; `paper_of` reads the paper back from it."""
    return f"{paper_id}#{n}"


def paper_of(passage: str) -> str:
    return passage.rpartition("#")[0]


def _where_passages(paper_id: str, source: str) -> dict[str, Any] | None:
    """chromadb's filter for one paper (exact id) or one source (any version)."""
    return {"paper_id": paper_id} if paper_id else ({"paper_base": _norm_source(source)} if source else None)


class PassagesMixin(HybridMixin):
    """Passages: index (now or later), wait for the index, and search."""

    # -- passages ---------------------------------------------------------
    def add_passages(self, paper_id: str, chunks: list[Chunk]) -> int:
        """Store a paper's text chunks, replacing any stored before (idempotent per paper)."""
        self.wait_indexed()
        return self._add_passages(paper_id, chunks)

    def _add_passages(self, paper_id: str, chunks: list[Chunk]) -> int:
        self.passages.delete(where={"paper_id": paper_id})
        chunks = [c for c in chunks if str(c.get("text") or "").strip()]
        ids = [passage_id(paper_id, i) for i in range(len(chunks))]
        # `chunks` on every row: an index cut short by a kill is seen as incomplete and redone.
        metas = [PassageMeta(paper_id=paper_id, paper_base=_norm_source(paper_source(paper_id)),
                             page_start=int(c.get("page_start") or 0), chunks=len(chunks),
                             page_end=int(c.get("page_end") or c.get("page_start") or 0)) for c in chunks]
        texts = [str(c["text"]) for c in chunks]
        self._write(self.passages, ids, texts, metas)
        self.lexical.add([self._lexical_row("passage", i, t, m) for i, t, m in zip(ids, texts, metas, strict=True)],
                         replace_group=paper_id)
        return len(ids)

    def add_passages_later(self, paper_id: str, chunks: list[Chunk]) -> None:
        """Index a paper's chunks in a background thread, so a first read answers without waiting.

        Every reader of passages (has_passages, search, recall) waits for it first, and so does the
        process at exit, for up to `exit_wait_s`.
        """
        with self._queue_lock:
            self._queue.append((paper_id, chunks))
            self._pending.add(paper_id)
            self._idle.clear()
            if self._indexing is None or not self._indexing.is_alive():
                if self._indexing is None:
                    atexit.register(self._wait_at_exit)
                self._indexing = threading.Thread(target=self._index_queue, name="passage-index", daemon=True)
                self._indexing.start()

    def _index_queue(self) -> None:
        while True:
            with self._queue_lock:
                if not self._queue:
                    self._idle.set()
                    return
                paper_id, chunks = self._queue.pop(0)
            try:
                self._add_passages(paper_id, chunks)
            except Exception as exc:  # the next read of this paper indexes it again
                log.warning("memory: indexing the passages of %s failed: %s", paper_id, exc)
            finally:
                with self._queue_lock:
                    if all(queued != paper_id for queued, _ in self._queue):
                        self._pending.discard(paper_id)

    def _wait_at_exit(self) -> None:
        seconds = self.exit_wait_s() if callable(self.exit_wait_s) else self.exit_wait_s
        if not self.wait_indexed(seconds):
            import sys

            print(f"warning: passages of {self.indexing_left()} paper(s) not indexed within {seconds:.3g} s; "
                  "they are indexed again when next read.", file=sys.stderr)

    def indexing_left(self) -> int:
        """Papers whose passages are queued or being indexed."""
        with self._queue_lock:
            return len(self._pending)

    def wait_indexed(self, timeout: Any = None) -> bool:
        """Wait for background indexing (at most `timeout` seconds, or a callable giving them)."""
        seconds = timeout() if callable(timeout) else timeout
        return self._idle.wait(seconds)

    def has_passages(self, paper_id: str) -> bool:
        """Whether the paper's passages are indexed or being indexed (an index cut short counts as absent)."""
        with self._queue_lock:
            if paper_id in self._pending:
                return True
        got = self.passages.get(where={"paper_id": paper_id}, include=["metadatas"])
        if not got["ids"]:
            return False
        expected = (got["metadatas"][0] or {}).get("chunks")
        return expected is None or int(expected) == len(got["ids"])  # None: indexed by an earlier version

    def search_passages(self, query: str, k: int = 5, paper_id: str = "", source: str = "",
                        per_paper: int = PER_PAPER) -> list[PassageHit]:
        """Passages ranked by relevance to `query` (dense and lexical fused, a few per paper unless
        `paper_id` is given): id, text, paper_id, page_start, page_end, score."""
        return self.hybrid_passages(query, k, paper_id, source, per_paper)

    def nearest_passages(self, vector: np.ndarray, k: int = 5, paper_id: str = "",
                         source: str = "") -> list[PassageHit]:
        """Passages nearest to a vector, optionally of one paper (exact id, or a source with any version)."""
        self.wait_indexed()
        total = int(self.passages.count())
        if total == 0 or k <= 0:
            return []
        res = self.passages.query(query_embeddings=[vector.tolist()], n_results=min(k, total),
                                  where=_where_passages(paper_id, source),
                                  include=["documents", "metadatas", "distances"])
        return [passage_from_store(i, d, m, round(1.0 - float(dist), 4))
                for i, d, m, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0],
                                         res["distances"][0], strict=False)]

    def hybrid_passages(self, query: str, k: int = 5, paper_id: str = "", source: str = "",
                        per_paper: int = PER_PAPER, vector: np.ndarray | None = None) -> list[PassageHit]:
        """Passages for `query` by dense and lexical rank fused; at most `per_paper` of one paper unless
        `paper_id` is given. Each: id, text, paper_id, page_start, page_end, score (the fused score)."""
        if k <= 0:
            return []
        pool = max(POOL, 4 * k)
        self.wait_indexed()
        found = beside(self.lexical.search, query, pool, kind="passage", group=paper_id,
                       base=_norm_source(source) if source and not paper_id else "")
        vector = self.embed([query])[0] if vector is None else vector
        # ids only (the documents and metadata of 40 rows cost more than the search); chromadb answers with
        # fewer when it holds fewer
        dense = self.passages.query(query_embeddings=[vector.tolist()], n_results=pool,
                                    where=_where_passages(paper_id, source),
                                    include=["distances"])["ids"][0]
        scores = fuse(list(dense), [i for i, _ in found.result()])
        ranked = [{"id": i, "paper_id": paper_of(i)} for i in sorted(scores, key=lambda i: -scores[i])]
        chosen = [r["id"] for r in diverse(ranked, k, 0 if paper_id else per_paper)]
        rows = self._passage_rows(chosen)  # only the rows answered are read
        return [{**rows[i], "score": round(scores[i], 5)} for i in chosen if i in rows]
