"""The one home of lexical (BM25) ranking: our tokenizer, and a BM25 index on SQLite's FTS5.

Why FTS5 and not bm25s, rank-bm25 or tantivy: it adds and deletes rows incrementally inside a transaction
(bm25s rebuilds its matrices on every add; rank-bm25 scores in pure Python, keeps nothing on disk and is
unmaintained since 2022), it is crash-safe and shared safely between processes like the chromadb store
beside it, and it ships with Python (tantivy would be a 10 MB binary dependency for the same job).
Text is stored as our own tokens (`tokens`), Porter-stemmed by FTS5 on both sides, so ranking is the same
for every user: a paper index on disk (`LexicalIndex(path)`) and the small in-memory sets of `bm25(query, docs)`.
A text's first words (a note's subject, a paragraph's topic sentence) are also kept in a second column that
weighs LEAD_WEIGHT as much (chosen on the tuning half of bench_retrieval's real-text set; a weight is applied
when searching, so changing it needs no rebuild).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_STOP = set("a an the of and or in on for to with by from is are was were be as at that this it its we our "
            "their these those which what how does do not no can using use via than then s t".split())
# FTS5 gives a term in half the rows or more an idf of 1e-6: beside a match on a rare term, a row matched
# only by such terms says nothing, and is left out (below this share of the best score).
MIN_SHARE = 1e-3
MAX_QUERY_TERMS = 32  # a long question's rarest words rank as well as all of them, at a fraction of the cost
# Rows a search may score: the rarest terms are kept until their rows add up to this (FTS5 costs ~4 us a
# scored row on a loaded 2-core machine; at 100,000 passages all of a title's words scored took ~300 ms).
POSTINGS = 5_000
LEAD_WORDS = 20  # the first words of a text, weighed again in the `lead` column
LEAD_WEIGHT = 3.0  # picked with hybrid.RRF_K and LEXICAL_WEIGHT among 1, 2, 3, 4 (bench_retrieval)
SCHEMA = 2  # PRAGMA user_version; an index of another version is emptied and refilled by its owner
_SLOT = 1 << 40  # rowids of one kind lie in [slot * _SLOT, (slot + 1) * _SLOT): a kind is a rowid range
_STEMS_KEPT = 200_000  # words whose stem is remembered (a bound on memory, not on correctness)


def tokens(text: str) -> list[str]:
    """Lower-case words and numbers for lexical ranking, without stop words (FTS5's Porter stemmer then
    makes `widgets` and `widget`, `utilities` and `utility` one term)."""
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP]


def _terms(query: str | list[str]) -> list[str]:
    terms = tokens(query) if isinstance(query, str) else [t for t in query if re.fullmatch(r"[a-z0-9]+", t)]
    return list(dict.fromkeys(terms))[:MAX_QUERY_TERMS]


def _match(terms: list[str]) -> str:
    """An FTS5 MATCH expression: any of the terms (each quoted, so no term is an operator)."""
    return " OR ".join(f'"{t}"' for t in terms)


class LexicalIndex:
    """BM25 over rows (id, group, base, kind, text): add, replace a group, delete, search; thread-safe.

    `group` is what a row belongs to (a paper id, or "" for a note); `base` a version-free key to filter on.
    Each stem's row count is kept beside the index (`stems`), so choosing a query's terms costs a lookup,
    not a walk of their postings (FTS5's own vocabulary table counts them anew on every query).
    """

    def __init__(self, path: str | Path = ":memory:", tokenize: str = "porter unicode61",
                 lead_weight: float = LEAD_WEIGHT):
        self.path = str(path)
        self.lead_weight = float(lead_weight)  # how much a match in the first LEAD_WORDS counts again
        self._lock = threading.Lock()
        self._stem: dict[str, str] = {}
        self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        # Only an index of another version (or none) is written here: opening one to search changes no byte.
        if int(self._db.execute("PRAGMA user_version").fetchone()[0]) != SCHEMA:
            # an index of an earlier version (other tokens, no stem counts): emptied; the store refills it
            self._db.executescript("DROP TABLE IF EXISTS body_terms; DROP TABLE IF EXISTS body;"
                                   " DROP TABLE IF EXISTS rows; DROP TABLE IF EXISTS stems;"
                                   " DROP TABLE IF EXISTS kinds;"
                                   "CREATE TABLE rows (n INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,"
                                   " grp TEXT NOT NULL, base TEXT NOT NULL, kind TEXT NOT NULL);"
                                   "CREATE INDEX rows_grp ON rows(grp);"
                                   "CREATE TABLE kinds (kind TEXT PRIMARY KEY, slot INTEGER UNIQUE NOT NULL,"
                                   " rows INTEGER NOT NULL);"
                                   "CREATE TABLE stems (stem TEXT PRIMARY KEY, rows INTEGER NOT NULL) WITHOUT ROWID;"
                                   f"CREATE VIRTUAL TABLE body USING fts5(words, lead, tokenize='{tokenize}');"
                                   f"PRAGMA user_version = {SCHEMA};")
        self._db.executescript(
            # a scratch table with the same tokenizer: how words are stemmed
            f"CREATE VIRTUAL TABLE temp.query USING fts5(words, tokenize='{tokenize}');"
            "CREATE VIRTUAL TABLE temp.query_terms USING fts5vocab(temp, query, 'instance');")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing -----------------------------------------------------------
    def add(self, rows: Iterable[dict[str, Any]], replace_group: str | None = None) -> int:
        """Add or replace rows ({id, text, group?, base?, kind?}) in one transaction; with `replace_group`,
        that group's earlier rows go first (re-indexing a paper)."""
        rows = list(rows)
        words = [tokens(str(r.get("text") or "")) for r in rows]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if replace_group is not None:
                    self._delete_where("grp = ?", (replace_group,))
                self._delete_ids([str(r["id"]) for r in rows])
                stems = self._stems({w for ws in words for w in ws})
                counts: Counter[str] = Counter()
                kinds: Counter[str] = Counter()
                rowid: dict[str, int] = {}
                for r, ws in zip(rows, words, strict=True):
                    kind = str(r.get("kind") or "")
                    n = rowid[kind] = rowid[kind] + 1 if kind in rowid else self._next_rowid(kind)
                    self._db.execute("INSERT INTO rows (n, id, grp, base, kind) VALUES (?, ?, ?, ?, ?)",
                                     (n, str(r["id"]), str(r.get("group") or ""), str(r.get("base") or ""), kind))
                    self._db.execute("INSERT INTO body (rowid, words, lead) VALUES (?, ?, ?)",
                                     (n, " ".join(ws), " ".join(ws[:LEAD_WORDS])))
                    counts.update({stems[w] for w in ws if w in stems})
                    kinds[kind] += 1
                self._count(counts, kinds, +1)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(rows)

    def delete(self, ids: list[str]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._delete_ids(ids)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _delete_ids(self, ids: list[str]) -> None:
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            self._delete_where(f"id IN ({','.join('?' * len(part))})", tuple(part))

    def _delete_where(self, cond: str, args: tuple) -> None:
        found = self._db.execute(f"SELECT n, kind FROM rows WHERE {cond}", args).fetchall()
        for start in range(0, len(found), 500):
            part = [n for n, _ in found[start:start + 500]]
            marks = ",".join("?" * len(part))
            texts = [w.split() for (w,) in self._db.execute(f"SELECT words FROM body WHERE rowid IN ({marks})", part)]
            stems = self._stems({w for ws in texts for w in ws})
            counts = Counter(s for ws in texts for s in {stems[w] for w in ws if w in stems})
            self._count(counts, Counter(kind for _, kind in found[start:start + 500]), -1)
            self._db.execute(f"DELETE FROM body WHERE rowid IN ({marks})", part)
            self._db.execute(f"DELETE FROM rows WHERE n IN ({marks})", part)

    def _count(self, stems: Counter[str], kinds: Counter[str], sign: int) -> None:
        self._db.executemany("INSERT INTO stems (stem, rows) VALUES (?, ?) ON CONFLICT(stem) DO UPDATE"
                             " SET rows = rows + excluded.rows", [(s, sign * n) for s, n in stems.items()])
        self._db.executemany("UPDATE kinds SET rows = rows + ? WHERE kind = ?",
                             [(sign * n, k) for k, n in kinds.items()])
        if sign < 0:
            self._db.execute("DELETE FROM stems WHERE rows <= 0")

    def _next_rowid(self, kind: str) -> int:
        low = self._slot(kind, create=True) * _SLOT
        last = self._db.execute("SELECT max(n) FROM rows WHERE n >= ? AND n < ?", (low, low + _SLOT)).fetchone()[0]
        return low if last is None else int(last) + 1

    def _slot(self, kind: str, create: bool = False) -> int:
        """The kind's range of rowids (-1: a kind never added, when not `create`)."""
        got = self._db.execute("SELECT slot FROM kinds WHERE kind = ?", (kind,)).fetchone()
        if got is None and create:
            slot = int(self._db.execute("SELECT coalesce(max(slot) + 1, 0) FROM kinds").fetchone()[0])
            self._db.execute("INSERT INTO kinds (kind, slot, rows) VALUES (?, ?, 0)", (kind, slot))
            return slot
        return -1 if got is None else int(got[0])

    def _stems(self, words: set[str]) -> dict[str, str]:
        """word -> its FTS5 stem (words the tokenizer drops are absent), remembered for the next call."""
        missing = sorted(w for w in words if w not in self._stem)
        for start in range(0, len(missing), 5000):
            part = missing[start:start + 5000]
            self._db.execute("DELETE FROM temp.query")
            self._db.executemany("INSERT INTO temp.query (rowid, words) VALUES (?, ?)",
                                 [(n, w) for n, w in enumerate(part, start=1)])
            if len(self._stem) + len(part) > _STEMS_KEPT:
                self._stem.clear()
            self._stem.update({part[int(doc) - 1]: term for term, doc in
                               self._db.execute("SELECT term, doc FROM temp.query_terms")})
        return {w: self._stem[w] for w in words if w in self._stem}

    # -- reading -----------------------------------------------------------
    def count(self, kind: str | None = None) -> int:
        with self._lock:
            if kind is None:
                return int(self._db.execute("SELECT coalesce(sum(rows), 0) FROM kinds").fetchone()[0])
            got = self._db.execute("SELECT rows FROM kinds WHERE kind = ?", (kind,)).fetchone()
            return 0 if got is None else int(got[0])

    def ids(self, kind: str) -> set[str]:
        with self._lock:
            return {i for (i,) in self._db.execute("SELECT id FROM rows WHERE kind = ?", (kind,))}

    def _useful_terms(self, terms: list[str]) -> list[str]:
        """The query's terms worth scoring, rarest first: a term in half the rows or more weighs nothing in
        FTS5's BM25 (idf 1e-6), and past POSTINGS rows scored the commoner terms are left out (the rare ones
        decide the ranking; the common ones only cost time)."""
        stem = self._stems(set(terms))
        stems = sorted(set(stem.values()))
        if not stems:
            return []
        marks = ",".join("?" * len(stems))
        df = dict(self._db.execute(f"SELECT stem, rows FROM stems WHERE stem IN ({marks})", stems))
        total = int(self._db.execute("SELECT coalesce(sum(rows), 0) FROM kinds").fetchone()[0])
        ranked = sorted((int(df.get(stem[t], 0)), t) for t in terms if t in stem)
        out: list[str] = []
        work = 0
        for count, term in ranked:
            if count == 0 or (2 * count >= total and out):
                continue
            if out and work + count > POSTINGS:
                break
            out.append(term)
            work += count
        return out

    def search(self, query: str | list[str], k: int = 10, kind: str = "", group: str = "",
               base: str = "") -> list[tuple[str, float]]:
        """(id, BM25 score) of the best `k` rows matching any query term, best first; rows matched only by
        terms most rows contain, beside rows with a rare one, are left out."""
        if k <= 0:
            return []
        with self._lock:
            expr = _match(self._useful_terms(_terms(query)))
            slot = self._slot(kind) if kind else None
        if not expr or slot == -1:
            return []
        conds: list[str] = ["body MATCH ?"]
        args: list[str | int] = [expr]
        if slot is not None:  # a kind is a range of rowids, which FTS5 seeks to: no join to filter on it
            conds.append("body.rowid >= ? AND body.rowid < ?")
            args += [slot * _SLOT, (slot + 1) * _SLOT]
        filters = [(c, v) for c, v in (("grp", group), ("base", base)) if v]
        if filters:
            conds.append("body.rowid IN (SELECT n FROM rows WHERE "
                         + " AND ".join(f"{c} = ?" for c, _ in filters) + ")")
            args += [v for _, v in filters]
        sql = (f"SELECT body.rowid, -bm25(body, 1.0, {self.lead_weight!r}) AS s FROM body WHERE {' AND '.join(conds)}"
               " ORDER BY s DESC LIMIT ?")
        with self._lock:
            found = [(int(n), float(s)) for n, s in self._db.execute(sql, (*args, int(k)))]
            if not found:
                return []
            marks = ",".join("?" * len(found))
            names = dict(self._db.execute(f"SELECT n, id FROM rows WHERE n IN ({marks})", [n for n, _ in found]))
        return [(names[n], s) for n, s in found if s >= found[0][1] * MIN_SHARE and n in names]


def bm25(query: list[str], docs: list[str]) -> list[float]:
    """BM25 scores of a few hundred in-memory `docs` for the query terms (0 where none occurs)."""
    if not docs:
        return []
    index = LexicalIndex()
    try:
        index.add({"id": str(n), "text": d} for n, d in enumerate(docs))
        scores = [0.0] * len(docs)
        for i, s in index.search(query, len(docs)):
            scores[int(i)] = s
        return scores
    finally:
        index.close()
