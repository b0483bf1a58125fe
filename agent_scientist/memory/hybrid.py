"""Hybrid retrieval: the dense (chromadb) ranking and the lexical (BM25, papers/lexical.py) ranking fused by
weighted reciprocal rank, with at most a few passages per paper. The lexical search runs in a thread while
the query is embedded and the dense one runs (sqlite and chromadb both release the GIL). The lexical index lives next to the chromadb store
(<workspace>/memory/lexical.sqlite3) and is kept in step with it: every write goes to chromadb first, then
to the lexical index; an index that disagrees with the store's counts (a crash between the two) is
repaired when it is first opened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from agent_scientist.memory.connection import StoreBase
from agent_scientist.papers.lexical import LexicalIndex
from agent_scientist.records import PassageHit, passage_from_store

log = logging.getLogger(__name__)

# Rank r of a ranking counts weight / (RRF_K + r). Chosen with lexical.LEAD_WEIGHT on the tuning half of
# bench_retrieval's real-text queries (the other half is the held-out figure), the best there that lowers no
# passage query set: the lexical ranking is the stronger one, and a smaller constant than the usual 60 lets a
# first place count.
RRF_K = 10
DENSE_WEIGHT = 1.0
LEXICAL_WEIGHT = 2.0
PER_PAPER = 3  # passages of one paper in a result, unless that paper is asked for
POOL = 40  # candidates taken from each ranking before fusing
LEXICAL_FILE = "lexical.sqlite3"

T = TypeVar("T")
Row = TypeVar("Row", bound=Mapping[str, Any])  # a hit of any kind: RecallHit, PassageHit, {id, paper_id}
_SIDE = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lexical-search")


def fuse(dense: list[str], lexical: list[str], k: int = RRF_K, weights: tuple[float, float] = (
        DENSE_WEIGHT, LEXICAL_WEIGHT)) -> dict[str, float]:
    """Weighted reciprocal-rank fusion of the dense and the lexical ranked id lists: id -> fused score."""
    out: dict[str, float] = {}
    for ranking, weight in zip((dense, lexical), weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            out[item] = out.get(item, 0.0) + weight / (k + rank)
    return out


def beside(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
    """Run `fn` in a side thread (the lexical search, while the caller embeds and searches densely)."""
    return _SIDE.submit(fn, *args, **kwargs)


def diverse(rows: list[Row], k: int, per_group: int, key: str = "paper_id") -> list[Row]:
    """The best `k` rows, at most `per_group` with the same `key` (rows without it are not limited)."""
    seen: dict[str, int] = {}
    out: list[Row] = []
    for row in rows:
        group = str(row.get(key) or "")
        if group and per_group > 0:
            if seen.get(group, 0) >= per_group:
                continue
            seen[group] = seen.get(group, 0) + 1
        out.append(row)
        if len(out) >= k:
            break
    return out


class HybridMixin(StoreBase):
    """The lexical index beside the chromadb store, and keeping the two in step."""

    lexical_path: Path | None = None  # set by open_store; None: an index in memory, rebuilt from the store
    _lexical: LexicalIndex | None = None

    @property
    def lexical(self) -> LexicalIndex:
        if self._lexical is None:
            path = self.lexical_path
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._lexical = LexicalIndex(path or ":memory:")
            self.sync_lexical()
        return self._lexical

    def sync_lexical(self) -> dict[str, int]:
        """Add what the store has and the lexical index lacks, drop what it no longer has: {added, removed}.

        Cheap when in step (two counts); a diff of ids otherwise.
        """
        index = self.lexical
        done = {"added": 0, "removed": 0}
        for kind, collection in (("passage", self.passages), ("note", self.notes)):
            if int(collection.count()) == index.count(kind):
                continue
            stored = set(collection.get(include=[])["ids"])
            have = index.ids(kind)
            extra, missing = sorted(have - stored), sorted(stored - have)
            if extra:
                index.delete(extra)
            for start in range(0, len(missing), 500):
                got = collection.get(ids=missing[start:start + 500], include=["documents", "metadatas"])
                index.add([self._lexical_row(kind, i, d, m) for i, d, m in
                           zip(got["ids"], got["documents"], got["metadatas"], strict=False)])
            done["added"] += len(missing)
            done["removed"] += len(extra)
        if any(done.values()):
            log.info("memory: lexical index repaired (%d added, %d removed)", done["added"], done["removed"])
        return done

    @staticmethod
    def _lexical_row(kind: str, row_id: str, text: str | None, meta: Mapping[str, Any] | None) -> dict[str, Any]:
        meta = meta or {}
        return {"id": row_id, "text": text or "", "kind": kind, "group": meta.get("paper_id", ""),
                "base": meta.get("paper_base", "")}

    # -- rows the lexical ranking found that the dense one did not ---------
    def _passage_rows(self, ids: list[str]) -> dict[str, PassageHit]:
        if not ids:
            return {}
        got = self.passages.get(ids=ids, include=["documents", "metadatas"])
        return {i: passage_from_store(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"],
                                                                  strict=False)}
