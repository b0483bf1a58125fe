"""The one home of lexical (BM25) ranking: our tokenizer, and a BM25 index on SQLite's FTS5.

Why FTS5 and not bm25s, rank-bm25 or tantivy: it adds and deletes rows incrementally inside a transaction
(bm25s rebuilds its matrices on every add; rank-bm25 scores in pure Python, keeps nothing on disk and is
unmaintained since 2022), it is crash-safe and shared safely between processes like the chromadb store
beside it, and it ships with Python (tantivy would be a 10 MB binary dependency for the same job).
Text is stored as our own tokens (`tokens`), Porter-stemmed by FTS5 on both sides (on the real-text benchmark
BM25 alone finds 0.822 of the titles' texts first, against 0.773 unstemmed), so ranking is the same for
every user: a paper index on disk (`LexicalIndex(path)`) and the small in-memory sets of `bm25(query, docs)`.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_STOP = set("a an the of and or in on for to with by from is are was were be as at that this it its we our "
            "their these those which what how does do not no can using use via than then".split())
# FTS5 gives a term in half the rows or more an idf of 1e-6: beside a match on a rare term, a row matched
# only by such terms says nothing, and is left out (below this share of the best score).
MIN_SHARE = 1e-3
MAX_QUERY_TERMS = 32  # a long question's rarest words rank as well as all of them, at a fraction of the cost
# Rows a search may score: the rarest terms are kept until their rows add up to this (FTS5 costs ~10 us a
# scored row on a loaded 2-core machine; at 100,000 passages all of a title's words scored took ~300 ms).
POSTINGS = 5_000


def tokens(text: str) -> list[str]:
    """Lower-case words for lexical ranking, without stop words; a plural `s` is dropped so that
    `widget` finds `widgets` (the same rule on both sides: a crude but consistent stem)."""
    words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 1 and w not in _STOP]
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")) else w
            for w in words]


def _terms(query: str | list[str]) -> list[str]:
    terms = tokens(query) if isinstance(query, str) else [t for t in query if re.fullmatch(r"[a-z0-9]+", t)]
    return list(dict.fromkeys(terms))[:MAX_QUERY_TERMS]


def _match(terms: list[str]) -> str:
    """An FTS5 MATCH expression: any of the terms (each quoted, so no term is an operator)."""
    return " OR ".join(f'"{t}"' for t in terms)


class LexicalIndex:
    """BM25 over rows (id, group, base, kind, text): add, replace a group, delete, search; thread-safe.

    `group` is what a row belongs to (a paper id, or "" for a note); `base` a version-free key to filter on.
    """

    def __init__(self, path: str | Path = ":memory:", tokenize: str = "porter unicode61"):
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS rows (n INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, grp TEXT NOT NULL,"
            " base TEXT NOT NULL, kind TEXT NOT NULL);"
            "CREATE INDEX IF NOT EXISTS rows_grp ON rows(grp);"
            f"CREATE VIRTUAL TABLE IF NOT EXISTS body USING fts5(words, tokenize='{tokenize}');"
            "CREATE VIRTUAL TABLE IF NOT EXISTS body_terms USING fts5vocab(body, 'row');"
            # a scratch table with the same tokenizer: how a query's words are stemmed, to look up their counts
            f"CREATE VIRTUAL TABLE temp.query USING fts5(words, tokenize='{tokenize}');"
            "CREATE VIRTUAL TABLE temp.query_terms USING fts5vocab(temp, query, 'instance');")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, rows: Iterable[dict[str, Any]], replace_group: str | None = None) -> int:
        """Add or replace rows ({id, text, group?, base?, kind?}) in one transaction; with `replace_group`,
        that group's earlier rows go first (re-indexing a paper)."""
        rows = list(rows)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if replace_group is not None:
                    self._delete_where("grp = ?", (replace_group,))
                self._delete_ids([str(r["id"]) for r in rows])
                for r in rows:
                    cur = self._db.execute("INSERT INTO rows (id, grp, base, kind) VALUES (?, ?, ?, ?)",
                                           (str(r["id"]), str(r.get("group") or ""), str(r.get("base") or ""),
                                            str(r.get("kind") or "")))
                    self._db.execute("INSERT INTO body (rowid, words) VALUES (?, ?)",
                                     (cur.lastrowid, " ".join(tokens(str(r.get("text") or "")))))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(rows)

    def delete(self, ids: list[str]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._delete_ids(ids)
            self._db.execute("COMMIT")

    def _delete_ids(self, ids: list[str]) -> None:
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            self._delete_where(f"id IN ({','.join('?' * len(part))})", tuple(part))

    def _delete_where(self, cond: str, args: tuple) -> None:
        found = [n for (n,) in self._db.execute(f"SELECT n FROM rows WHERE {cond}", args)]
        for start in range(0, len(found), 500):
            part = found[start:start + 500]
            marks = ",".join("?" * len(part))
            self._db.execute(f"DELETE FROM body WHERE rowid IN ({marks})", part)
            self._db.execute(f"DELETE FROM rows WHERE n IN ({marks})", part)

    def count(self, kind: str | None = None) -> int:
        with self._lock:
            if kind is None:
                return int(self._db.execute("SELECT count(*) FROM rows").fetchone()[0])
            return int(self._db.execute("SELECT count(*) FROM rows WHERE kind = ?", (kind,)).fetchone()[0])

    def ids(self, kind: str) -> set[str]:
        with self._lock:
            return {i for (i,) in self._db.execute("SELECT id FROM rows WHERE kind = ?", (kind,))}

    def _useful_terms(self, terms: list[str]) -> list[str]:
        """The query's terms worth scoring, rarest first: a term in half the rows or more weighs nothing in
        FTS5's BM25 (idf 1e-6), and past POSTINGS rows scored the commoner terms are left out (the rare ones
        decide the ranking; the common ones only cost time)."""
        self._db.execute("DELETE FROM temp.query")
        self._db.executemany("INSERT INTO temp.query (rowid, words) VALUES (?, ?)",
                             [(n, t) for n, t in enumerate(terms, start=1)])
        stem = {int(doc): term for term, doc in self._db.execute("SELECT term, doc FROM temp.query_terms")}
        stems = sorted(set(stem.values()))
        if not stems:
            return []
        marks = ",".join("?" * len(stems))
        df = dict(self._db.execute(f"SELECT term, doc FROM body_terms WHERE term IN ({marks})", stems))
        total = int(self._db.execute("SELECT count(*) FROM rows").fetchone()[0])
        ranked = sorted((int(df.get(stem[n], 0)), t) for n, t in enumerate(terms, start=1) if n in stem)
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
        if not expr:
            return []
        conds, args = ["body MATCH ?"], [expr]
        for column, value in (("kind", kind), ("grp", group), ("base", base)):
            if value:
                conds.append(f"r.{column} = ?")
                args.append(value)
        sql = (f"SELECT r.id, -bm25(body) AS s FROM body JOIN rows r ON r.n = body.rowid WHERE {' AND '.join(conds)}"
               " ORDER BY s DESC LIMIT ?")
        with self._lock:
            found = [(i, float(s)) for i, s in self._db.execute(sql, (*args, int(k)))]
        return [(i, s) for i, s in found if s >= found[0][1] * MIN_SHARE]


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
