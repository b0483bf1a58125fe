"""A stand-in for NCBI E-utilities (PubMed) on 127.0.0.1, answering in E-utilities' own XML.

- /esearch.fcgi?db=pubmed&term=...&retstart&retmax&sort&datetype=pdat&mindate&maxdate: <eSearchResult> with
  Count, RetMax, RetStart, IdList; `X[pmcid]` and `"X"[doi]` terms look an article up; other terms match
  words of title and abstract; an unknown db answers <eSearchResult><ERROR>.
- /efetch.fcgi?db=pubmed&id=1,2&retmode=xml: <PubmedArticleSet> of PubmedArticle (MedlineCitation with
  Article, AuthorList, Abstract, PublicationTypeList, MeshHeadingList, CommentsCorrectionsList; PubmedData
  with ArticleIdList).
- /esummary.fcgi: <eSummaryResult> DocSums (title, source, pubdate) for the same ids.
Failures scripted one per request (`fail`, support.loopback.Scripted): "429" (Retry-After: 0), "500", "text"
(a 500 with a plain-text body, as NCBI's front end sends), "maintenance" (a 200 with a plain-text body), "hang"
(no answer for `hang_s`). `delay` seconds are slept before every answer. Every request's path and query are
recorded in `requests`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

from support.loopback import QuietHandler, Scripted


@dataclass
class Article:
    pmid: str
    title: str  # may hold <i>, <sup> markup, as PubMed's ArticleTitle does
    year: int = 2020
    month: str = "Mar"
    journal: str = "Journal of Biological Tests"
    authors: list[tuple[str, str]] = field(default_factory=lambda: [("Rosalind", "Franklin"), ("Barbara", "McClintock")])
    abstract: list[tuple[str, str]] = field(default_factory=list)  # (label or "", text)
    doi: str = ""
    pmcid: str = ""
    mesh: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=lambda: ["Journal Article"])
    links: list[tuple[str, str]] = field(default_factory=list)  # (RefType, PMID): RetractionIn, RetractionOf, ...


def article_xml(a: Article) -> str:
    authors = "".join(f'<Author ValidYN="Y"><LastName>{escape(last)}</LastName><ForeName>{escape(first)}</ForeName>'
                      f"<Initials>{first[:1]}</Initials></Author>" for first, last in a.authors)
    abstract = "".join(f'<AbstractText Label="{escape(label)}">{escape(text)}</AbstractText>' if label else
                       f"<AbstractText>{escape(text)}</AbstractText>" for label, text in a.abstract)
    types = "".join(f'<PublicationType UI="D0000{i}">{escape(t)}</PublicationType>' for i, t in enumerate(a.types))
    mesh = "".join(f'<MeshHeading><DescriptorName UI="D00{i}" MajorTopicYN="N">{escape(m)}</DescriptorName>'
                   "</MeshHeading>" for i, m in enumerate(a.mesh))
    links = "".join(f'<CommentsCorrections RefType="{kind}"><RefSource>J Biol Tests. 2021</RefSource>'
                    f'<PMID Version="1">{pmid}</PMID></CommentsCorrections>' for kind, pmid in a.links)
    ids = f'<ArticleId IdType="pubmed">{a.pmid}</ArticleId>' + (
        f'<ArticleId IdType="doi">{escape(a.doi)}</ArticleId>' if a.doi else "") + (
        f'<ArticleId IdType="pmc">{a.pmcid}</ArticleId>' if a.pmcid else "")
    eloc = f'<ELocationID EIdType="doi" ValidYN="Y">{escape(a.doi)}</ELocationID>' if a.doi else ""
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{a.pmid}</PMID>'
            f'<Article PubModel="Print"><Journal><ISSN IssnType="Electronic">1234-5678</ISSN>'
            f'<JournalIssue CitedMedium="Internet"><Volume>12</Volume><PubDate><Year>{a.year}</Year>'
            f"<Month>{a.month}</Month></PubDate></JournalIssue><Title>{escape(a.journal)}</Title></Journal>"
            f"<ArticleTitle>{a.title}</ArticleTitle>{eloc}"
            + (f"<Abstract>{abstract}</Abstract>" if abstract else "")
            + f'<AuthorList CompleteYN="Y">{authors}</AuthorList><Language>eng</Language>'
            f"<PublicationTypeList>{types}</PublicationTypeList></Article>"
            + (f"<CommentsCorrectionsList>{links}</CommentsCorrectionsList>" if links else "")
            + (f"<MeshHeadingList>{mesh}</MeshHeadingList>" if mesh else "")
            + f'</MedlineCitation><PubmedData><PublicationStatus>ppublish</PublicationStatus>'
            f"<ArticleIdList>{ids}</ArticleIdList></PubmedData></PubmedArticle>")


DOCTYPE = ('<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January '
           '2024//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_240101.dtd">\n')


class EutilsServer(Scripted):
    failures = {
        "429": (429, '{"error":"API rate limit exceeded","count":"11"}', "application/json", {"Retry-After": "0"}),
        "500": (500, "<html><body>Internal Server Error</body></html>", "text/html", {}),
        "text": (500, "Service unavailable: backend down, try again later", "text/plain", {}),
        # a 200 whose body is no XML, as during NCBI maintenance
        "maintenance": (200, "E-utilities are down for maintenance.", "text/plain", {}),
    }

    def __init__(self, articles: list[Article], delay: float = 0.0, hang_s: float = 30.0):
        super().__init__(_handler(self), delay, hang_s)
        self.articles = articles

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/entrez/eutils"

    def find(self, term: str, mindate: str, maxdate: str) -> list[Article]:
        found = re.fullmatch(r"\s*(PMC\d+)\[pmcid\]\s*", term, re.I)
        if found:
            return [a for a in self.articles if a.pmcid.lower() == found.group(1).lower()]
        found = re.fullmatch(r'\s*"?([^"]+?)"?\[doi\]\s*', term, re.I)
        if found:
            return [a for a in self.articles if a.doi.lower() == found.group(1).lower()]
        words = [w for w in re.findall(r"[a-z0-9]+", re.sub(r"\[[a-z ]+\]", " ", term.lower()))
                 if w not in ("and", "or", "not")]
        out = []
        for a in self.articles:
            text = re.sub(r"<[^>]+>", " ", a.title + " " + " ".join(t for _, t in a.abstract)).lower()
            if all(w in re.findall(r"[a-z0-9]+", text) for w in words):
                out.append(a)
        low, high = int(mindate[:4] or 0), int(maxdate[:4] or 9999)
        return [a for a in out if low <= a.year <= high]


def _handler(server: EutilsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        content_type = "text/xml; charset=UTF-8"

        def do_GET(self) -> None:  # noqa: N802
            if self._scripted(server):
                return
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            tool = url.path.rsplit("/", 1)[-1]
            if q.get("db") != "pubmed":
                return self._send(200, f'<?xml version="1.0" ?><eSearchResult><ERROR>Invalid db name specified: '
                                       f'{escape(q.get("db", ""))}</ERROR></eSearchResult>')
            if tool == "esearch.fcgi":
                found = server.find(q.get("term", ""), q.get("mindate", ""), q.get("maxdate", ""))
                if q.get("sort") == "pub_date":
                    found = sorted(found, key=lambda a: -a.year)
                start, size = int(q.get("retstart", 0)), int(q.get("retmax", 20))
                page = found[start:start + size]
                ids = "".join(f"<Id>{a.pmid}</Id>" for a in page)
                return self._send(200, '<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC '
                                       '"-//NLM//DTD esearch 20060628//EN" '
                                       '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
                                       f"<eSearchResult><Count>{len(found)}</Count><RetMax>{len(page)}</RetMax>"
                                       f"<RetStart>{start}</RetStart><IdList>{ids}</IdList><TranslationSet/>"
                                       f"<QueryTranslation>{escape(q.get('term', ''))}</QueryTranslation>"
                                       "</eSearchResult>")
            wanted = [i for i in q.get("id", "").split(",") if i]
            chosen = [a for i in wanted for a in server.articles if a.pmid == i]
            if tool == "efetch.fcgi":
                return self._send(200, DOCTYPE + "<PubmedArticleSet>" + "".join(article_xml(a) for a in chosen)
                                  + "</PubmedArticleSet>")
            if tool == "esummary.fcgi":
                docs = "".join(f'<DocSum><Id>{a.pmid}</Id><Item Name="PubDate" Type="Date">{a.year}</Item>'
                               f'<Item Name="Source" Type="String">{escape(a.journal)}</Item>'
                               f'<Item Name="Title" Type="String">{escape(a.title)}</Item></DocSum>' for a in chosen)
                return self._send(200, f'<?xml version="1.0" ?><eSummaryResult>{docs}</eSummaryResult>')
            return self._send(404, "Not Found", "text/plain")

    return Handler
