"""A stand-in for the Unpaywall v2 API on 127.0.0.1, in its real format, plus the hosts it points at.

- /v2/{doi}?email=: {"doi", "is_oa", "best_oa_location": {"url", "url_for_pdf", "url_for_landing_page",
  "host_type", "version", "license"}, "oa_locations": [...], "title", "year", "journal_name", "z_authors"};
  422 JSON without an email; 404 JSON for an unknown DOI.
- /pdf/<n>: a PDF; /landing/<n>: an HTML landing page (what `url` points at when url_for_pdf is null).
Failures are scripted one per request: "429" (plain-text body), "500". Requests are recorded.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlparse

from support.loopback import Loopback, QuietHandler


@dataclass
class OaRecord:
    doi: str
    title: str
    pdf: bytes = b""  # served at /pdf/<index>; empty: only a landing page is known
    landing_only: bool = False
    pdf_is_html: bool = False  # url_for_pdf points at a page that answers HTML


class UnpaywallServer(Loopback):
    def __init__(self, records: list[OaRecord]):
        self.records = records
        self.requests: list[str] = []
        self.script: deque[str] = deque()
        super().__init__(_handler(self))

    def env(self, email: str = "lab@example.org") -> dict[str, str]:
        return {"AGENT_SCIENTIST_UNPAYWALL_API_URL": self.base + "/v2", "AGENT_SCIENTIST_CONTACT_EMAIL": email}

    def answer(self, n: int, r: OaRecord) -> dict:
        landing = f"{self.base}/landing/{n}"
        pdf = None if r.landing_only else (landing if r.pdf_is_html else f"{self.base}/pdf/{n}")
        best = {"url": pdf or landing, "url_for_pdf": pdf, "url_for_landing_page": landing,
                "host_type": "repository", "version": "publishedVersion", "license": "cc-by", "evidence": "oa repo"}
        return {"doi": r.doi, "doi_url": f"https://doi.org/{r.doi}", "is_oa": True, "oa_status": "green",
                "best_oa_location": best, "oa_locations": [best], "title": r.title, "year": 2019,
                "journal_name": "Journal of Tests", "z_authors": [{"given": "Ada", "family": "Lovelace"}]}


def _handler(server: UnpaywallServer) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            server.requests.append(self.path)
            url = urlparse(self.path)
            if url.path.startswith("/v2/") and server.script:
                action = server.script.popleft()
                if action == "429":
                    return self._send(429, b"Too many requests", "text/plain", {"Retry-After": "0"})
                return self._send(500, b"Internal Server Error", "text/plain")
            if url.path.startswith("/pdf/"):
                r = server.records[int(url.path.rsplit("/", 1)[1])]
                return self._send(200, r.pdf, "application/pdf")
            if url.path.startswith("/landing/"):
                return self._send(200, b"<!DOCTYPE html><html><body>Article landing page</body></html>", "text/html")
            if url.path.startswith("/v2/"):
                if not parse_qs(url.query).get("email"):
                    return self._send(422, {"HTTP_status_code": 422, "error": True,
                                            "message": "You must provide an email parameter"})
                doi = unquote(url.path[len("/v2/"):]).lower()
                found = next(((n, r) for n, r in enumerate(server.records) if r.doi.lower() == doi), None)
                if found is None:
                    return self._send(404, {"HTTP_status_code": 404, "error": True,
                                            "message": f"'{doi}' is an invalid doi."})
                return self._send(200, server.answer(*found))
            return self._send(404, b"Not found", "text/plain")

    return Handler
