"""A stand-in for arXiv on 127.0.0.1: the export API (Atom) and PDFs, from a small in-test catalogue.

The API honours search_query (ti:, au:, abs:, cat:, all:, quoted phrases, AND/OR/ANDNOT, parentheses,
submittedDate:[A TO B]; words side by side mean AND), id_list, start, max_results, sortBy, sortOrder.
Failures are scripted per kind of request ("api" or "pdf") and consumed one per request:
"429", "500", "503", "html", "empty", "drop" (connection closed mid-body), "malformed", "noentries",
"hang" (answers after `hang_seconds`), "big" (a PDF over any small cap, with Content-Length) and
"big_stream" (the same without Content-Length). Every request is recorded in `requests`.
"""

from __future__ import annotations

import re
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse
from xml.sax.saxutils import escape, quoteattr

from support.loopback import Loopback

ATOM_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
             'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom">\n')
HTML_PAGE = b"<!DOCTYPE html><html><head><title>Error</title></head><body>Something went wrong</body></html>"


def entry(pid: str, title: str, abstract: str = "", authors: tuple[str, ...] = ("A. Author",),
          categories: tuple[str, ...] = ("cs.LG",), published: str = "2024-01-03", updated: str = "",
          comment: str = "", pdf: bytes | str = b"") -> dict:
    """A catalogue entry; `pdf` is the PDF's bytes or the name of a failure to serve instead."""
    return {"id": pid, "title": title, "abstract": abstract or f"About {title.lower()}.", "authors": list(authors),
            "categories": list(categories), "published": published, "updated": updated or published,
            "comment": comment, "pdf": pdf}


class ArxivServer(Loopback):
    def __init__(self, catalogue: list[dict]):
        self.catalogue = catalogue
        self.times: list[float] = []  # time.monotonic() of each request, in order
        self.script: dict[str, deque] = {"api": deque(), "pdf": deque()}
        self.hang_seconds = 2.0
        self.delay = 0.0  # seconds slept before every answer (bench_sources: a service's latency)
        self.big_bytes = 3_000_000
        super().__init__(_handler(self), _Quiet)
        self.requests: list[tuple[str, str, dict]] = []

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/query"

    @property
    def pdf_url(self) -> str:
        return f"{self.base}/pdf/{{id}}"

    def env(self) -> dict[str, str]:
        """Environment pointing agent-scientist here, with no politeness delay."""
        return {"AGENT_SCIENTIST_ARXIV_API_URL": self.api_url, "AGENT_SCIENTIST_ARXIV_PDF_URL": self.pdf_url,
                "AGENT_SCIENTIST_ARXIV_DELAY": "0", "AGENT_SCIENTIST_HTTP_TIMEOUT": "5"}

    def fail(self, kind: str, *actions: str) -> None:
        self.script[kind].extend(actions)

    def count(self, kind: str = "") -> int:
        return sum(1 for k, _, _ in self.requests if not kind or k == kind)

    # -- the catalogue -------------------------------------------------------
    def lookup(self, pid: str) -> dict | None:
        if re.search(r"v\d+$", pid):
            return next((e for e in self.catalogue if e["id"] == pid), None)
        versions = [e for e in self.catalogue if re.sub(r"v\d+$", "", e["id"]) == pid]
        return max(versions, key=lambda e: int(e["id"].rsplit("v", 1)[1])) if versions else None

    def search(self, query: str) -> list[tuple[float, dict]]:
        tree = _Parser(query).parse()
        hits = []
        latest = {self.lookup(re.sub(r"v\d+$", "", e["id"]))["id"] for e in self.catalogue}
        for item in (e for e in self.catalogue if e["id"] in latest):  # like arXiv: newest versions only
            score = _score(tree, item)
            if score:
                hits.append((score, item))
        return hits

    def atom(self, params: dict) -> bytes:
        start = int(params.get("start", "0") or 0)
        size = int(params.get("max_results", "10") or 10)
        ids = [i for i in params.get("id_list", "").split(",") if i]
        if ids:
            bad = [i for i in ids if not re.fullmatch(r"(\d{4}\.\d{4,5}|[a-z\-]+/\d{7})(v\d+)?", i)]
            if bad:
                return self._feed([_error_entry(bad[0])], 1, 0)
            found = [e for e in (self.lookup(i) for i in ids) if e]
            return self._feed(found[start:start + size], len(found), start)
        ranked = self.search(params.get("search_query", ""))
        sort = params.get("sortBy", "relevance")
        reverse = params.get("sortOrder", "descending") == "descending"
        key = {"relevance": lambda h: (h[0], h[1]["id"]), "submittedDate": lambda h: h[1]["published"],
               "lastUpdatedDate": lambda h: h[1]["updated"]}[sort]
        ranked.sort(key=key, reverse=reverse)
        page = [item for _, item in ranked[start:start + size]]
        return self._feed(page, len(ranked), start)

    def _feed(self, items: list[dict], total: int, start: int) -> bytes:
        body = [ATOM_HEAD, f"<title>arXiv Query</title><id>{self.base}/api</id>",
                f"<opensearch:totalResults>{total}</opensearch:totalResults>",
                f"<opensearch:startIndex>{start}</opensearch:startIndex>",
                f"<opensearch:itemsPerPage>{len(items)}</opensearch:itemsPerPage>"]
        for item in items:
            body.append(item["raw"] if "raw" in item else _entry_xml(item))
        body.append("</feed>\n")
        return "".join(body).encode()


def _entry_xml(e: dict) -> str:
    pid = e["id"]
    parts = [f"<entry><id>http://arxiv.org/abs/{pid}</id>",
             f"<updated>{e['updated']}T12:00:00Z</updated><published>{e['published']}T12:00:00Z</published>",
             f"<title>{escape(e['title'])}</title><summary>{escape(e['abstract'])}</summary>"]
    parts += [f"<author><name>{escape(a)}</name></author>" for a in e["authors"]]
    if e["comment"]:
        parts.append(f"<arxiv:comment>{escape(e['comment'])}</arxiv:comment>")
    parts.append(f'<link href="http://arxiv.org/abs/{pid}" rel="alternate" type="text/html"/>')
    parts.append(f'<link title="pdf" href="http://arxiv.org/pdf/{pid}" rel="related" type="application/pdf"/>')
    parts.append(f"<arxiv:primary_category term={quoteattr(e['categories'][0])}/>")
    parts += [f"<category term={quoteattr(c)}/>" for c in e["categories"]]
    return "".join(parts) + "</entry>\n"


def _error_entry(bad: str) -> dict:
    return {"id": "ERROR", "raw": f"<entry><id>http://arxiv.org/api/errors#incorrect_id_format_for_{bad}</id>"
            f"<title>Error</title><summary>incorrect id format for {bad}</summary></entry>"}


# -- a small arXiv query language ----------------------------------------------------
_TOKEN = re.compile(r'\(|\)|\bANDNOT\b|\bAND\b|\bOR\b|submittedDate:\[[^\]]*\]|\w+:"[^"]*"|"[^"]*"|[^\s()]+')


class _Parser:
    def __init__(self, text: str):
        self.tokens = _TOKEN.findall(text)
        self.pos = 0

    def parse(self) -> tuple:
        return self._expr() if self.tokens else ("none",)

    def _expr(self) -> tuple:
        node = self._atom()
        while self.pos < len(self.tokens) and self.tokens[self.pos] != ")":
            op = self.tokens[self.pos]
            if op in ("AND", "OR", "ANDNOT"):
                self.pos += 1
            else:
                op = "AND"
            node = (op, node, self._atom())
        return node

    def _atom(self) -> tuple:
        token = self.tokens[self.pos]
        self.pos += 1
        if token == "(":
            node = self._expr()
            self.pos += 1  # ")"
            return node
        if token.startswith("submittedDate:["):
            low, high = re.findall(r"\d{12}", token)
            return ("date", low, high)
        field, _, value = token.partition(":") if re.match(r"^\w+:", token) else ("all", "", token)
        return ("term", field, value.strip('"').lower())


def _score(node: tuple, item: dict) -> float:
    kind = node[0]
    if kind == "none":
        return 0.0
    if kind == "date":
        stamp = item["published"].replace("-", "") + "1200"
        return 1.0 if node[1] <= stamp <= node[2] else 0.0
    if kind == "term":
        fields = {"ti": [item["title"]], "abs": [item["abstract"]], "au": item["authors"],
                  "cat": item["categories"]}
        texts = fields.get(node[1], [item["title"], item["title"], item["abstract"], *item["authors"],
                                     *item["categories"]])
        if node[1] == "cat":
            return float(sum(node[2] == c.lower() for c in texts))
        words = node[2].split()
        return float(sum(" ".join(re.findall(r"[\w.\-]+", t.lower())).count(" ".join(words)) for t in texts))
    left, right = _score(node[1], item), _score(node[2], item)
    if kind == "AND":
        return left + right if left and right else 0.0
    if kind == "OR":
        return left + right
    return left if left and not right else 0.0  # ANDNOT


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # a client that gave up is expected here
        pass


# -- HTTP ----------------------------------------------------------------------------
def _handler(server: ArxivServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            kind = "api" if url.path.startswith("/api") else "pdf" if url.path.startswith("/pdf/") else "other"
            server.times.append(time.monotonic())
            if server.delay:
                time.sleep(server.delay)
            server.requests.append((kind, url.path, params))
            script = server.script.get(kind)
            action = script.popleft() if script else ""
            if action == "hang":
                time.sleep(server.hang_seconds)
                action = ""
            if self._failure(action):
                return
            if kind == "api":
                body = server.atom(params)
                self._send(400 if b"/api/errors#" in body else 200, body, "application/atom+xml")
            elif kind == "pdf":
                item = server.lookup(unquote(url.path[len("/pdf/"):]).removesuffix(".pdf"))
                if item is None:
                    self._send(404, HTML_PAGE, "text/html")
                elif isinstance(item["pdf"], str):
                    self._failure(item["pdf"])
                else:
                    self._send(200, item["pdf"], "application/pdf")
            else:
                self._send(404, HTML_PAGE, "text/html")

        def _failure(self, action: str) -> bool:
            if not action:
                return False
            if action in ("429", "500", "503"):
                self.send_response(int(action))
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif action == "html":
                self._send(200, HTML_PAGE, "text/html")
            elif action == "empty":
                self._send(200, b"", "application/pdf")
            elif action == "drop":
                self.send_response(200)
                self.send_header("Content-Type", "application/pdf")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b"%PDF-1.4\n" + b"0" * 20000)
                self.wfile.flush()
                self.close_connection = True
            elif action == "malformed":
                self._send(200, (ATOM_HEAD + "<entry><id>http://arxiv.org/abs/1").encode(), "application/atom+xml")
            elif action == "noentries":
                self._send(200, server._feed([], 0, 0), "application/atom+xml")
            elif action == "big":
                self._send(200, b"%PDF-1.4\n" + b"0" * server.big_bytes, "application/pdf")
            elif action == "big_stream":
                self.send_response(200)
                self.send_header("Content-Type", "application/pdf")
                self.end_headers()
                self.wfile.write(b"%PDF-1.4\n" + b"0" * server.big_bytes)
                self.close_connection = True
            else:
                raise ValueError(f"unknown scripted action {action!r}")
            return True

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


# -- the catalogue most tests use ----------------------------------------------------
MAY = "2024-05-01"  # the date of every deliberately broken entry
GOOD = "2401.00001"  # two versions; v2 is a 4-page two-column paper
BAD_PDFS = {"2405.00011v1": "html", "2405.00012v1": "empty", "2405.00016v1": "big",
            "2405.00017v1": "big_stream", "2405.00018v1": "drop"}


def standard_catalogue(pages: int = 4) -> list[dict]:
    """Known papers for searching (paging, sorting, dates) and for every way a PDF can be bad."""
    from support import pdfs

    paper = pdfs.make_paper(pages)
    items = [
        entry("2401.00001v1", "Sparse widgets improve gadget accuracy", published="2024-01-03",
              authors=("Ada Lovelace", "Alan Turing"), pdf=pdfs.make_paper(2, salt="v1")),
        entry("2401.00001v2", "Sparse widgets improve gadget accuracy", published="2024-01-03",
              updated="2024-02-20", authors=("Ada Lovelace", "Alan Turing"), categories=("cs.LG", "stat.ML"),
              abstract="We show that sparse widgets improve gadget accuracy on every benchmark.", pdf=paper),
        entry("2402.00002v1", "Dense gadgets revisited", published="2024-02-15", authors=("Bob Smith",),
              categories=("cs.CV",), pdf=paper),
        entry("2303.00003v1", "A theory of widgets", published="2023-03-10", updated="2024-03-01",
              authors=("Carol Jones",), categories=("math.CO",), pdf=paper),
        entry("2405.00010v2", "A withdrawn gadget result", published=MAY,
              comment="This paper has been withdrawn by the author due to a crucial error", pdf="html"),
        entry("2405.00013v1", "Corrupt gadget PDF", published=MAY, pdf=pdfs.make_corrupt()),
        entry("2405.00014v1", "Encrypted gadget PDF", published=MAY, pdf=pdfs.make_encrypted()),
        entry("2405.00015v1", "Empty gadget PDF", published=MAY, pdf=pdfs.make_zero_pages()),
        entry("2405.00019v1", "Scanned gadget PDF", published=MAY, pdf=pdfs.make_scanned(2)),
        entry("2405.00020v1", "Long author list gadget", published=MAY, authors=tuple(f"Author {i}" for i in range(12)),
              abstract="word " * 400, pdf=paper),
    ]
    items += [entry(pid, f"Broken download {kind}", published=MAY, pdf=kind) for pid, kind in BAD_PDFS.items()]
    items += [entry(f"2201.{i:05d}v1", f"Filler study {i} of quasars", published=f"2022-01-{i:02d}",
                    updated=f"2022-06-{30 - i:02d}", categories=("astro-ph",), pdf=paper) for i in range(1, 26)]
    return items
