"""A stand-in for the Europe PMC REST API on 127.0.0.1, in its real formats.

- /search?query=...&format=json&resultType=core&pageSize=&cursorMark=*: {"hitCount", "nextCursorMark",
  "resultList": {"result": [core records: pmid, pmcid, doi, title, authorList, journalInfo, pubYear,
  firstPublicationDate, abstractText, isOpenAccess, inEPMC, pubTypeList, citedByCount]}}; queries are
  words, `PMCID:PMCn`, `DOI:"10.x/y"`, and `(...) AND FIRST_PDATE:[A TO B]`.
- /{PMCID}/fullTextXML: a JATS article (front, body sections with paragraphs, figures and tables, back with a
  ref-list); 404 with a plain-text body when the paper has no open-access full text.
Failures are scripted one per request (`fail`, support.loopback.Scripted): "429" (plain-text body, Retry-After: 0),
"500", "hang". Requests are recorded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

from support.loopback import QuietHandler, Scripted

SECTIONS = ("Introduction", "Methods", "Results", "Discussion")


@dataclass
class PmcPaper:
    pmcid: str  # PMC1234567
    title: str
    year: int = 2012
    doi: str = ""
    pmid: str = ""
    abstract: str = ""
    authors: list[str] = field(default_factory=lambda: ["Rosalind Franklin", "Maurice Wilkins"])
    journal: str = "PLoS Biology"
    full_text: bool = True  # served at /{pmcid}/fullTextXML
    pub_types: list[str] = field(default_factory=lambda: ["research-article", "Journal Article"])
    paragraphs: int = 4  # per section, each about 700 characters
    facts: dict[str, str] = field(default_factory=dict)  # section -> a sentence placed in its first paragraph
    corrections: list[tuple[str, str]] = field(default_factory=list)  # (type, PMID): ("Erratum in", "40000001")


def paragraph(paper: PmcPaper, section: str, n: int) -> str:
    words = (f"In the {section.lower()} of {paper.title.lower()}, observation {n} concerns kinase activity "
             "and the <italic>yeast</italic> cell cycle measured across replicate cultures. ")
    fact = paper.facts.get(section, "") if n == 0 else ""
    return (fact + " " if fact else "") + words * 5


def jats(paper: PmcPaper) -> bytes:
    """The paper as a JATS article, as Europe PMC's fullTextXML serves it."""
    body = []
    for section in SECTIONS:
        paras = "".join(f"<p>{paragraph(paper, section, n)}</p>" for n in range(paper.paragraphs))
        extra = ""
        if section == "Results":
            extra = ('<fig id="fig1"><label>Figure 1</label><caption><title>Kinase activity over time.</title>'
                     '<p>Activity peaks at 30 min in mutant cells.</p></caption><graphic/></fig>'
                     '<table-wrap id="tab1"><label>Table 1</label><caption><p>Strains and growth rates.</p>'
                     '</caption><table><thead><tr><th>Strain</th><th>Rate (h<sup>-1</sup>)</th></tr></thead>'
                     '<tbody><tr><td>wild type</td><td>0.42</td></tr><tr><td>cdc28-4</td><td>0.17</td></tr>'
                     '</tbody></table><table-wrap-foot><p>Means of three cultures.</p></table-wrap-foot>'
                     '</table-wrap>')
        body.append(f'<sec><title>{section}</title>{paras}{extra}</sec>')
    refs = "".join(f'<ref id="r{i}"><label>{i}</label><element-citation><person-group><name><surname>Hartwell'
                   f'</surname><given-names>L</given-names></name></person-group><article-title>Cell cycle control '
                   f'{i}</article-title><source>Science</source><year>{1970 + i}</year></element-citation></ref>'
                   for i in range(1, 4))
    authors = "".join(f'<contrib contrib-type="author"><name><surname>{a.split()[-1]}</surname>'
                      f'<given-names>{a.split()[0]}</given-names></name></contrib>' for a in paper.authors)
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<article xmlns:xlink="http://www.w3.org/1999/xlink" '
           f'article-type="research-article"><front><article-meta><article-id pub-id-type="pmcid">{paper.pmcid}'
           f'</article-id><title-group><article-title>{escape(paper.title)}</article-title></title-group>'
           f'<contrib-group>{authors}</contrib-group><abstract><p>{escape(paper.abstract)}</p></abstract>'
           f'</article-meta></front><body>{"".join(body)}</body><back><ack><p>We thank the yeast.</p></ack>'
           f'<ref-list><title>References</title>{refs}</ref-list></back></article>')
    return xml.encode()


class EuropePmcServer(Scripted):
    failures = {
        "429": (429, b"Too many requests, slow down", "text/plain", {"Retry-After": "0"}),
        "500": (500, b"Internal error", "text/plain", {}),
    }

    def __init__(self, papers: list[PmcPaper]):
        super().__init__(_handler(self))
        self.papers = papers

    def env(self) -> dict[str, str]:
        return {"AGENT_SCIENTIST_EUROPEPMC_API_URL": self.base}

    def record(self, p: PmcPaper) -> dict:
        return {"id": p.pmid or p.pmcid, "source": "MED" if p.pmid else "PMC", "pmid": p.pmid or None,
                "pmcid": p.pmcid, "doi": p.doi or None, "title": p.title + ".",
                "authorString": ", ".join(p.authors) + ".",
                "authorList": {"author": [{"fullName": a, "firstName": a.split()[0], "lastName": a.split()[-1]}
                                          for a in p.authors]},
                "journalInfo": {"journal": {"title": p.journal}, "yearOfPublication": p.year},
                "pubYear": str(p.year), "firstPublicationDate": f"{p.year}-03-15",
                "abstractText": p.abstract, "isOpenAccess": "Y" if p.full_text else "N",
                "inEPMC": "Y" if p.full_text else "N", "inPMC": "Y", "hasPDF": "Y",
                "pubTypeList": {"pubType": p.pub_types}, "citedByCount": 12,
                **({"commentCorrectionList": {"commentCorrection": [
                    {"id": pmid, "source": "MED", "type": kind, "note": "", "orderIn": n + 1,
                     "reference": f"{p.journal}. {p.year + 1};1:{n + 1}"}
                    for n, (kind, pmid) in enumerate(p.corrections)]}} if p.corrections else {})}

    def search(self, query: str) -> list[PmcPaper]:
        start, end = "0000", "9999"
        dates = re.search(r"FIRST_PDATE:\[(\S+) TO (\S+)\]", query)
        if dates:
            start, end = dates.group(1), dates.group(2)
            query = query[:dates.start()]
        pmc = re.search(r"PMCID:(PMC\d+)", query, re.I)
        doi = re.search(r'DOI:"([^"]+)"', query, re.I)
        if pmc:
            hits = [p for p in self.papers if p.pmcid.lower() == pmc.group(1).lower()]
        elif doi:
            hits = [p for p in self.papers if p.doi and p.doi.lower() == doi.group(1).lower()]
        else:
            words = re.findall(r"[a-z0-9]+", query.lower().replace(" and ", " "))
            hits = [p for p in self.papers if words and all(w in f"{p.title} {p.abstract}".lower() for w in words)]
        return [p for p in hits if start <= f"{p.year}-03-15" <= end]


def _handler(server: EuropePmcServer) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self._scripted(server):
                return
            url = urlparse(self.path)
            full = re.fullmatch(r"/(PMC\d+)/fullTextXML", url.path)
            if full:
                paper = next((p for p in server.papers if p.pmcid == full.group(1) and p.full_text), None)
                if paper is None:
                    return self._send(404, b"The requested resource does not exist.", "text/plain")
                return self._send(200, jats(paper), "application/xml")
            if url.path == "/search":
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if q.get("format") != "json":
                    return self._send(400, b"format=json expected by this stand-in", "text/plain")
                hits = server.search(q.get("query", ""))
                size = int(q.get("pageSize", 25))
                body = {"version": "6.9", "hitCount": len(hits), "nextCursorMark": "AoE=",
                        "request": {"queryString": q.get("query", ""), "resultType": q.get("resultType", "lite"),
                                    "cursorMark": q.get("cursorMark", "*"), "pageSize": size},
                        "resultList": {"result": [server.record(p) for p in hits[:size]]}}
                return self._send(200, json.dumps(body).encode(), "application/json")
            return self._send(404, b"Not found", "text/plain")

    return Handler
