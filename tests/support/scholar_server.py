"""Stand-ins for Semantic Scholar (Graph + Recommendations API) and OpenAlex (works API) on 127.0.0.1.

One catalogue of `Work`s serves both, in each API's own JSON format:
- Semantic Scholar: /graph/v1/paper/search (query, offset, limit, publicationDateOrYear; answers total,
  offset, next), /graph/v1/paper/{paperId | DOI:x | ARXIV:x | CorpusId:n} (404 when unknown),
  .../references and .../citations (offset, limit, next; contexts and isInfluential),
  /recommendations/v1/papers/forpaper/{paperId}.
- OpenAlex: /works (search, per_page, page, filter=from_/to_publication_date, sort=cited_by_count:desc)
  and /works/doi:10.x, with is_retracted, best_oa_location.pdf_url and abstract_inverted_index.
- /pdf/<name>: open-access PDFs.
Failures are scripted per API ("s2" or "openalex"), one per request: "429" (Retry-After: 0 unless
`retry_after` is set), "500", "drip" (one byte a second). Every request is recorded in `requests`.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlparse

from support.loopback import Loopback


@dataclass
class Work:
    s2: str  # 40-hex paperId
    title: str
    year: int | None = 2022
    doi: str = ""
    arxiv: str = ""
    venue: str | None = "Journal of Tests"
    citations: int | None = 0
    authors: list[str] = field(default_factory=lambda: ["Ada Lovelace", "Alan Turing"])
    abstract: str = ""
    pdf: bytes = b""  # an open-access PDF served at /pdf/<s2>
    references: list[str] = field(default_factory=list)  # paperIds this work cites
    contexts: dict[str, list[str]] = field(default_factory=dict)  # cited paperId -> sentences citing it
    influential: set[str] = field(default_factory=set)  # cited paperIds cited influentially
    retracted: bool = False
    kind: str = "journal-article"
    in_s2: bool = True
    in_openalex: bool = True
    tldr: str = ""


class ScholarServer(Loopback):
    def __init__(self, works: list[Work]):
        self.works = works
        self.script: dict[str, deque] = {"s2": deque(), "openalex": deque()}
        self.retry_after = 0
        self.delay = 0.0  # seconds slept before every answer (bench_sources: a service's latency)
        super().__init__(_handler(self))
        self.requests: list[tuple[str, str]] = []  # (api, path with query)

    def env(self) -> dict[str, str]:
        return {"AGENT_SCIENTIST_SEMANTIC_SCHOLAR_API_URL": self.base, "AGENT_SCIENTIST_OPENALEX_API_URL": self.base,
                "AGENT_SCIENTIST_SEMANTIC_SCHOLAR_DELAY": "0"}

    def fail(self, api: str, *actions: str) -> None:
        self.script[api].extend(actions)

    def count(self, api: str = "") -> int:
        return sum(1 for a, _ in self.requests if not api or a == api)

    # -- the catalogue -----------------------------------------------------------------------
    def find(self, ident: str) -> Work | None:
        ident = unquote(ident)
        for n, w in enumerate(self.works):
            if ident.lower() in (w.s2, f"doi:{w.doi}".lower() if w.doi else "-", f"arxiv:{w.arxiv}".lower()
                                 if w.arxiv else "-", f"corpusid:{1000 + n}"):
                return w
        return None

    def by_id(self, s2: str) -> Work | None:
        return next((w for w in self.works if w.s2 == s2), None)

    def matches(self, query: str, start: str = "", end: str = "") -> list[Work]:
        words = [w for w in re.findall(r"[a-z0-9]+", query.lower())]
        out = []
        for w in self.works:
            text = f"{w.title} {w.abstract}".lower()
            if words and all(word in text for word in words) and _in_range(w.year, start, end):
                out.append(w)
        return out

    # -- Semantic Scholar JSON -----------------------------------------------------------------
    def s2_paper(self, w: Work) -> dict:
        ext: dict = {"CorpusId": 1000 + self.works.index(w)}
        if w.doi:
            ext["DOI"] = w.doi.upper()  # S2 keeps the publisher's case: ours must normalise
        if w.arxiv:
            ext["ArXiv"] = w.arxiv
        return {"paperId": w.s2, "externalIds": ext, "title": w.title, "year": w.year, "venue": w.venue,
                "authors": [{"authorId": str(i), "name": a} for i, a in enumerate(w.authors)],
                "citationCount": w.citations, "isOpenAccess": bool(w.pdf),
                "openAccessPdf": {"url": f"{self.base}/pdf/{w.s2}", "status": "GREEN"} if w.pdf else None,
                "publicationTypes": ["JournalArticle"] if w.kind == "journal-article" else None,
                "publicationDate": f"{w.year}-05-01" if w.year else None, "abstract": w.abstract or None,
                "tldr": {"model": "tldr@v2", "text": w.tldr} if w.tldr else None, "journal": None,
                "publicationVenue": None}

    def openalex_work(self, w: Work) -> dict:
        words: dict[str, list[int]] = {}
        for i, word in enumerate(w.abstract.split()):
            words.setdefault(word, []).append(i)
        landing = f"https://arxiv.org/abs/{w.arxiv}" if w.arxiv else f"https://publisher.example/{w.s2}"
        return {"id": f"https://openalex.org/W{1000 + self.works.index(w)}",
                "doi": f"https://doi.org/{w.doi}" if w.doi else None, "title": w.title, "display_name": w.title,
                "publication_year": w.year, "publication_date": f"{w.year}-05-01" if w.year else None,
                "authorships": [{"author": {"display_name": a}} for a in w.authors],
                "primary_location": {"landing_page_url": landing,
                                     "source": {"display_name": w.venue} if w.venue else None},
                "locations": [{"landing_page_url": landing, "pdf_url": None}],
                "best_oa_location": {"pdf_url": f"{self.base}/pdf/{w.s2}"} if w.pdf else None,
                "open_access": {"is_oa": bool(w.pdf)}, "cited_by_count": w.citations or 0,
                "is_retracted": w.retracted, "type": w.kind,
                "abstract_inverted_index": words or None}


def _in_range(year: int | None, start: str, end: str) -> bool:
    if not (start or end):
        return True
    return year is not None and (not start or year >= int(start[:4])) and (not end or year <= int(end[:4]))


def _handler(server: ScholarServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, payload: object, headers: dict | None = None) -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if server.delay:
                time.sleep(server.delay)
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            path = url.path
            api = "openalex" if path.startswith("/works") else "pdf" if path.startswith("/pdf/") else "s2"
            server.requests.append((api, self.path))
            script = server.script.get(api)
            if script:
                action = script.popleft()
                if action == "429":
                    return self._send(429, {"message": "Too Many Requests"}, {"Retry-After": str(server.retry_after)})
                if action == "500":
                    return self._send(500, {"message": "Internal Server Error"})
                if action == "drip":
                    try:
                        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}":
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(1)
                    except OSError:
                        pass
                    self.close_connection = True
                    return None
            if api == "pdf":
                w = server.by_id(path.rsplit("/", 1)[1])
                return self._send(200, w.pdf, {"Content-Type": "application/pdf"}) if w and w.pdf else \
                    self._send(404, b"no such file")
            if api == "openalex":
                return self._openalex(path, q)
            return self._s2(path, q)

        def _s2(self, path: str, q: dict) -> None:
            known = [w for w in server.works if w.in_s2]
            if path == "/graph/v1/paper/search":
                start, _, end = q.get("publicationDateOrYear", ":").partition(":")
                hits = [w for w in server.matches(q.get("query", ""), start, end) if w.in_s2]
                offset, limit = int(q.get("offset", 0)), int(q.get("limit", 10))
                page = hits[offset:offset + limit]
                body = {"total": len(hits), "offset": offset, "data": [server.s2_paper(w) for w in page]}
                if offset + limit < len(hits):
                    body["next"] = offset + limit
                return self._send(200, body)
            m = re.fullmatch(r"/recommendations/v1/papers/forpaper/([0-9a-f]{40})", path)
            if m:
                w = server.by_id(m.group(1))
                if w is None:
                    return self._send(404, {"error": "Paper not found"})
                others = sorted((o for o in known if o is not w), key=lambda o: -(o.citations or 0))
                return self._send(200, {"recommendedPapers": [server.s2_paper(o) for o in
                                                              others[:int(q.get("limit", 100))]]})
            m = re.fullmatch(r"/graph/v1/paper/(.+?)(?:/(references|citations))?", path)
            w = server.find(m.group(1)) if m else None
            if w is None or not w.in_s2:
                return self._send(404, {"error": "Paper not found"})
            if not m.group(2):
                return self._send(200, server.s2_paper(w))
            offset, limit = int(q.get("offset", 0)), int(q.get("limit", 100))
            if m.group(2) == "references":
                rows = [{"contexts": w.contexts.get(r, []), "isInfluential": r in w.influential,
                         "citedPaper": server.s2_paper(server.by_id(r)) if server.by_id(r) else
                         {"paperId": None, "title": "An unresolved reference"}} for r in w.references]
            else:
                rows = [{"contexts": c.contexts.get(w.s2, []), "isInfluential": w.s2 in c.influential,
                         "citingPaper": server.s2_paper(c)} for c in known if w.s2 in c.references]
            body = {"offset": offset, "data": rows[offset:offset + limit]}
            if offset + limit < len(rows):
                body["next"] = offset + limit
            return self._send(200, body)

        def _openalex(self, path: str, q: dict) -> None:
            known = [w for w in server.works if w.in_openalex and (w.doi or w.arxiv)]
            if path == "/works":
                filters = dict(f.split(":", 1) for f in q.get("filter", "").split(",") if ":" in f)
                hits = [w for w in server.matches(q.get("search", ""), filters.get("from_publication_date", ""),
                                                  filters.get("to_publication_date", "")) if w in known]
                if q.get("sort") == "cited_by_count:desc":
                    hits.sort(key=lambda w: -(w.citations or 0))
                per_page, page = int(q.get("per_page", 25)), int(q.get("page", 1))
                chosen = hits[(page - 1) * per_page:page * per_page]
                return self._send(200, {"meta": {"count": len(hits), "page": page, "per_page": per_page},
                                        "results": [server.openalex_work(w) for w in chosen]})
            w = server.find(path.removeprefix("/works/"))
            if w is None or w not in known:
                return self._send(404, {"error": "Not Found", "message": "not found"})
            return self._send(200, server.openalex_work(w))

    return Handler
