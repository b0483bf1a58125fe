"""A stand-in for the Crossref REST API on 127.0.0.1, answering in its own JSON.

- /works?query=&rows=&offset=&filter=from-pub-date:..,until-pub-date:..&sort=&order=&mailto=: a
  "work-list" message (total-results, items).
- /works/{DOI}: a "work" message, or 404 with Crossref's plain-text body "Resource not found.".
Works carry title, author, container-title, published.date-parts, abstract (JATS), is-referenced-by-count,
type, reference (with DOIs where deposited), update-to (a notice naming the DOI it retracts or corrects)
and updated-by (notices about this work). Failures scripted one per request (`fail`,
support.loopback.Scripted): "429" (Retry-After: 0),
"500", "text" (a 503 with a plain-text body), "hang" (no answer for `hang_s`). `delay` seconds before
every answer; every request is recorded in `requests`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlparse

from support.loopback import QuietHandler, Scripted


@dataclass
class CrossrefWork:
    doi: str
    title: str
    year: int = 2020
    authors: list[tuple[str, str]] = field(default_factory=lambda: [("Rosalind", "Franklin")])
    journal: str = "Journal of Biological Tests"
    abstract: str = ""
    cited: int = 0
    kind: str = "journal-article"
    references: list[str] = field(default_factory=list)  # DOIs deposited as references
    update_to: list[tuple[str, str]] = field(default_factory=list)  # (DOI it updates, type: retraction, correction)
    updated_by: list[tuple[str, str]] = field(default_factory=list)  # (DOI of a notice, type)


def work_json(w: CrossrefWork) -> dict:
    out: dict = {"DOI": w.doi, "title": [w.title], "type": w.kind, "container-title": [w.journal],
                 "author": [{"given": g, "family": f, "sequence": "first" if i == 0 else "additional"}
                            for i, (g, f) in enumerate(w.authors)],
                 "published": {"date-parts": [[w.year, 3, 1]]}, "is-referenced-by-count": w.cited,
                 "reference-count": len(w.references), "URL": f"https://doi.org/{w.doi}",
                 "reference": [{"key": f"ref{i}", "DOI": d, "doi-asserted-by": "crossref"}
                               for i, d in enumerate(w.references)] + ([{"key": "refx", "unstructured":
                                                                        "A. Author, Some book, 1999."}]
                                                                      if w.references else [])}
    if w.abstract:
        out["abstract"] = f"<jats:p>{w.abstract}</jats:p>"
    if w.update_to:
        out["update-to"] = [{"DOI": d, "type": t, "label": t.title(), "updated": {"date-parts": [[w.year, 5, 1]]}}
                            for d, t in w.update_to]
    if w.updated_by:
        out["updated-by"] = [{"DOI": d, "type": t, "label": t.title(), "source": "retraction-watch"}
                             for d, t in w.updated_by]
    return out


class CrossrefServer(Scripted):
    failures = {
        "429": (429, "Too many requests", "text/plain", {"Retry-After": "0"}),
        "500": (500, "Internal Server Error", "text/plain", {}),
        "text": (503, "Crossref API is temporarily unavailable", "text/plain", {}),
    }

    def __init__(self, works: list[CrossrefWork], delay: float = 0.0, hang_s: float = 30.0):
        super().__init__(_handler(self), delay, hang_s)
        self.works = works


def _handler(server: CrossrefServer) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _ok(self, kind: str, message: dict) -> None:
            self._send(200, json.dumps({"status": "ok", "message-type": kind, "message-version": "1.0.0",
                                        "message": message}))

        def do_GET(self) -> None:  # noqa: N802
            if self._scripted(server):
                return
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path.startswith("/works/"):
                doi = unquote(url.path[len("/works/"):]).lower()
                found = next((w for w in server.works if w.doi.lower() == doi), None)
                if found is None:
                    return self._send(404, "Resource not found.", "text/plain")
                return self._ok("work", work_json(found))
            if url.path == "/works":
                words = re.findall(r"[a-z0-9]+", q.get("query", "").lower())
                low, high = 0, 9999
                for part in (q.get("filter") or "").split(","):
                    name, _, value = part.partition(":")
                    if name == "from-pub-date":
                        low = int(value[:4])
                    elif name == "until-pub-date":
                        high = int(value[:4])
                listed = [w for w in server.works if low <= w.year <= high and all(
                    x in re.findall(r"[a-z0-9]+", re.sub(r"<[^>]+>", " ", w.title + " " + w.abstract).lower())
                    for x in words)]
                if q.get("sort") == "is-referenced-by-count":
                    listed.sort(key=lambda w: -w.cited)
                start, rows = int(q.get("offset", 0)), int(q.get("rows", 20))
                return self._ok("work-list", {"total-results": len(listed), "items-per-page": rows,
                                              "query": {"start-index": start, "search-terms": q.get("query")},
                                              "items": [work_json(w) for w in listed[start:start + rows]]})
            return self._send(404, "Resource not found.", "text/plain")

    return Handler
