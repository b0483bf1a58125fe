"""PubMed (E-utilities XML) and Crossref (REST JSON) on loopback servers in their real formats: search and read
through the CLI, MeSH and publication types kept, retraction notices flagged in search and in the overview,
their 404, 429 and plain-text error answers; all sources asked at once with one hanging (cut at the search's
deadline, named as failed, the others merged); one paper under DOI, PMID, PMCID and arXiv id merged once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import cli_env
from support.arxiv_server import ArxivServer, entry
from support.crossref_server import CrossrefServer, CrossrefWork
from support.eutils_server import Article, EutilsServer
from support.scholar_server import ScholarServer, Work

from agent_scientist.config import load_settings
from agent_scientist.contracts import ToolError
from agent_scientist.papers import fetch
from agent_scientist.papers.search import search
from agent_scientist.papers.sources import crossref, pubmed
from agent_scientist.papers.sources.base import Query
from agent_scientist.papers.sources.works import merge
from agent_scientist.workspace import Workspace

DOI_OK, DOI_BAD, DOI_NOTE = "10.1016/j.cell.2019.01.001", "10.1038/retracted.2018.7", "10.1038/notice.2021.3"
ARTICLES = [
    Article("31452104", "CRISPR screens of <i>E. coli</i> zinc transporters", 2019, doi=DOI_OK, pmcid="PMC3320746",
            abstract=[("BACKGROUND", "Zinc transporters matter."), ("RESULTS", "The zinc screen found seven.")],
            mesh=["Escherichia coli", "Zinc", "CRISPR-Cas Systems"], types=["Journal Article", "Review"]),
    Article("29000001", "Zinc transporters cure everything", 2018, doi=DOI_BAD,
            types=["Journal Article", "Retracted Publication"], links=[("RetractionIn", "33000002")],
            abstract=[("", "A zinc miracle.")]),
    Article("33000002", "Retraction Note: Zinc transporters cure everything", 2021, doi=DOI_NOTE,
            types=["Retraction of Publication"], links=[("RetractionOf", "29000001")]),
]
WORKS = [
    CrossrefWork(DOI_OK, "CRISPR screens of <i>E. coli</i> zinc transporters", 2019, cited=120,
                 references=[DOI_BAD, "10.1000/other.1"], abstract="Zinc transporters matter."),
    CrossrefWork(DOI_BAD, "Zinc transporters cure everything", 2018, updated_by=[(DOI_NOTE, "retraction")]),
    CrossrefWork(DOI_NOTE, "Retraction Note: Zinc transporters cure everything", 2021, kind="journal-article",
                 update_to=[(DOI_BAD, "retraction")]),
]


@pytest.fixture()
def servers():
    eutils, cref = EutilsServer(ARTICLES).start(), CrossrefServer(WORKS).start()
    yield eutils, cref
    eutils.stop()
    cref.stop()


def _env(home: Path, eutils: EutilsServer, cref: CrossrefServer, sources: str) -> dict[str, str]:
    return cli_env(home, AGENT_SCIENTIST_PUBMED_API_URL=eutils.base, AGENT_SCIENTIST_CROSSREF_API_URL=cref.base,
                   AGENT_SCIENTIST_CONTACT_EMAIL="lab@example.org", AGENT_SCIENTIST_PAPER_SOURCES=sources)


def test_pubmed_search_and_read_through_the_cli(home, cli, servers) -> None:
    eutils, cref = servers
    env = _env(home, eutils, cref, "pubmed")
    Workspace.create(home, "bio", "zinc")
    found = cli("papers", "search", "zinc[tiab] AND transporters", "--source", "pubmed", "--json",
                "--from", "2018-01-01", "--name", "bio", env=env)
    assert found.returncode == 0, found.stderr
    by_id = {r["id"]: r for r in json.loads(found.stdout) if "id" in r}
    ok = by_id[f"doi:{DOI_OK}"]
    assert ok["title"] == "CRISPR screens of E. coli zinc transporters"  # the <i> markup kept as its text
    assert (ok["pmid"], ok["pmcid"], ok["venue"], ok["year"]) == ("31452104", "PMC3320746",
                                                                   "Journal of Biological Tests", 2019)
    assert ok["authors"] == ["Rosalind Franklin", "Barbara McClintock"]
    assert "RESULTS: The zinc screen found seven." in ok["abstract"]
    bad = by_id[f"doi:{DOI_BAD}"]
    assert bad["retracted"].startswith("RETRACTED") and bad["notices"] == ["retracted by pmid:33000002"]
    assert "this is a retraction notice (PubMed publication type)" in by_id[f"doi:{DOI_NOTE}"]["notices"]
    asked = [p for p in eutils.requests if "esearch" in p]
    assert asked and all("tool=agent-scientist" in p and "email=lab%40example.org" in p for p in eutils.requests)
    assert "datetype=pdat" in asked[0] and "mindate=2018%2F01%2F01" in asked[0]
    assert "zinc%5Btiab%5D+AND+transporters" in asked[0]  # PubMed's own syntax, as written

    read = cli("papers", "read", "pmid:31452104", "--name", "bio", env=env)
    assert read.returncode == 0, read.stderr
    assert "PMID: 31452104" in read.stdout and "PMCID: PMC3320746" in read.stdout
    assert "MeSH: Escherichia coli, Zinc, CRISPR-Cas Systems" in read.stdout
    assert "Publication types: Journal Article, Review" in read.stdout
    same = cli("papers", "read", "pmcid:PMC3320746", "--name", "bio", env=env)  # the same paper, by its PMCID
    assert same.returncode == 0 and "CRISPR screens of E. coli" in same.stdout, same.stderr
    flagged = cli("papers", "read", "pmid:29000001", "--name", "bio", env=env)
    assert flagged.returncode == 0, flagged.stderr
    assert "RETRACTED: do not rely on it" in flagged.stdout and "retracted by pmid:33000002" in flagged.stdout
    metas = {m["id"]: m for m in json.loads(cli("papers", "list", "--name", "bio", "--json", env=env).stdout)}
    meta = metas[f"doi:{DOI_OK}"]
    assert meta["mesh"] == ["Escherichia coli", "Zinc", "CRISPR-Cas Systems"] and meta["pmcid"] == "PMC3320746"


def test_crossref_metadata_references_and_notices(home, cli, servers) -> None:
    eutils, cref = servers
    env = _env(home, eutils, cref, "crossref")
    found = cli("papers", "search", "zinc transporters", "--source", "crossref", "--json", env=env)
    assert found.returncode == 0, found.stderr
    by_id = {r["id"]: r for r in json.loads(found.stdout) if "id" in r}
    assert by_id[f"doi:{DOI_BAD}"]["retracted"].startswith("RETRACTED")
    assert by_id[f"doi:{DOI_BAD}"]["notices"] == [f"retraction notice: doi:{DOI_NOTE}"]
    assert by_id[f"doi:{DOI_NOTE}"]["notices"] == [f"this is a retraction notice of doi:{DOI_BAD}"]
    assert "retracted" not in by_id[f"doi:{DOI_NOTE}"]  # the notice is not itself retracted
    assert all("mailto=lab%40example.org" in p for p in cref.requests)
    settings = load_settings({"home": str(home), "crossref_api_url": cref.base, "http_timeout": 5})
    work = crossref.SOURCE.work(settings, f"doi:{DOI_OK}", None)
    assert work is not None and work["references"] == [f"doi:{DOI_BAD}", "doi:10.1000/other.1"]
    assert work["references_deposited"] == 3 and work["citation_count"] == 120
    assert crossref.SOURCE.work(settings, "doi:10.9999/unknown", None) is None  # 404 "Resource not found."


def test_error_answers_say_what_failed(home, servers) -> None:
    eutils, cref = servers
    settings = load_settings({"home": str(home), "pubmed_api_url": eutils.base, "crossref_api_url": cref.base,
                              "http_timeout": 5})
    q = Query("zinc", 5)
    eutils.fail("429", "text")  # retried past a 429 (Retry-After: 0) and a plain-text 500
    works, total = pubmed.SOURCE.search(settings, q)
    assert total == 3 and len(works) == 3
    cref.fail(*["text"] * 4)
    with pytest.raises(fetch.FetchError, match="HTTP 503"):
        crossref.SOURCE.search(settings, q)
    eutils.fail("maintenance")
    with pytest.raises(fetch.FetchError, match="not XML.*down for maintenance"):
        pubmed.SOURCE.search(settings, q)
    with pytest.raises(fetch.FetchError, match="declaring entities"):
        pubmed.parse_xml(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "PubMed")


def test_sources_asked_at_once_a_hanging_one_cut_at_the_deadline(home, servers) -> None:
    eutils, cref = servers
    cref.hang_s = 20
    cref.fail("hang")
    settings = load_settings({"home": str(home), "pubmed_api_url": eutils.base, "crossref_api_url": cref.base,
                              "http_timeout": 15, "search_timeout": 2, "paper_sources": "pubmed,crossref"})
    ws = Workspace.create(Path(home), "par", "q")
    t0 = time.monotonic()
    results = search(ws, settings, "zinc transporters")
    took = time.monotonic() - t0
    assert took < 10  # cut at the 2 s deadline, not the 15 s per-request timeout nor the 20 s hang
    failed = [r for r in results if "source_failed" in r]
    assert [f["source_failed"] for f in failed] == ["crossref"] and "within the search's 2 s" in failed[0]["why"]
    papers = [r for r in results if "id" in r]
    assert {r["id"] for r in papers} == {f"doi:{DOI_OK}", f"doi:{DOI_BAD}", f"doi:{DOI_NOTE}"}
    cref.script.clear()
    both = [r for r in search(ws, settings, "zinc transporters", max_results=5, offset=0, sort_by="citations")
            if "id" in r]
    ok = next(r for r in both if r["id"] == f"doi:{DOI_OK}")
    assert ok["sources"] == ["pubmed", "crossref"] and ok["citation_count"] == 120  # merged once, both kept


def test_one_paper_under_doi_pmid_pmcid_and_arxiv_merged_once(home) -> None:
    arxiv = ArxivServer([entry("2401.00007v1", "CRISPR screens of E. coli zinc transporters")]).start()
    scholar = ScholarServer([Work("e" * 40, "CRISPR screens of E. coli zinc transporters", 2019, doi=DOI_OK,
                                  arxiv="2401.00007")]).start()
    eutils = EutilsServer([ARTICLES[0]]).start()
    try:
        settings = load_settings({"home": str(home), "arxiv_api_url": arxiv.api_url, "arxiv_delay": 0,
                                  "semantic_scholar_api_url": scholar.base, "semantic_scholar_delay": 0,
                                  "openalex_api_url": scholar.base, "pubmed_api_url": eutils.base,
                                  "paper_sources": "arxiv,semantic_scholar,openalex,pubmed", "http_timeout": 10})
        ws = Workspace.create(Path(home), "dedupe", "q")
        papers = [r for r in search(ws, settings, "zinc transporters") if "id" in r]
        assert len(papers) == 1 and papers[0]["id"] == "2401.00007v1"
        assert papers[0]["sources"] == ["arxiv", "semantic_scholar", "openalex", "pubmed"]
        assert papers[0]["pmid"] == "31452104" and papers[0]["pmcid"] == "PMC3320746"
    finally:
        arxiv.stop()
        scholar.stop()
        eutils.stop()
    # by PMID or PMCID alone (no DOI, titles differing), and never two papers merged by a shared journal
    a = {"id": "pmid:1", "pmid": "1", "pmcid": "", "doi": "", "title": "One", "year": 2020, "sources": ["pubmed"]}
    b = {"id": "pmcid:PMC9", "pmid": "1", "pmcid": "PMC9", "doi": "", "title": "One (preprint)", "year": 2021,
         "sources": ["europepmc"]}
    c = {"id": "pmcid:PMC9", "pmid": "", "pmcid": "pmc9", "doi": "", "title": "x", "year": 1, "sources": ["other"]}
    d = {"id": "pmid:2", "pmid": "2", "pmcid": "", "doi": "", "title": "Two", "year": 2020, "sources": ["pubmed"]}
    merged = merge([[a, d], [b], [c]])
    assert [m["id"] for m in merged] == ["pmid:1", "pmid:2"] and merged[0]["sources"] == ["pubmed", "europepmc",
                                                                                         "other"]


def test_ids_refused_and_unknown_say_so(home, servers) -> None:
    eutils, cref = servers
    settings = load_settings({"home": str(home), "pubmed_api_url": eutils.base, "http_timeout": 5,
                              "paper_sources": "pubmed"})
    assert pubmed.SOURCE.work(settings, "pmid:12345", None) is None
    by_doi = pubmed.SOURCE.work(settings, f"doi:{DOI_BAD}", None)
    assert by_doi is not None and by_doi["pmid"] == "29000001"
    with pytest.raises(ToolError, match="unknown"):
        search(Workspace.create(Path(home), "x", "q"), settings, "zinc", source="medline")


def test_doctor_per_source_reach_key_politeness(home, servers, monkeypatch) -> None:
    from agent_scientist.papers.tool import source_checks

    eutils, cref = servers
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    settings = load_settings({"home": str(home), "pubmed_api_url": eutils.base, "crossref_api_url": cref.base,
                              "paper_sources": "pubmed,crossref", "contact_email": "lab@example.org"})
    checks = {what: (ok, detail) for what, ok, detail in source_checks(settings)}
    assert checks["source pubmed"][0] and checks["source crossref"][0]
    assert "NCBI_API_KEY not set" in checks["source pubmed"][1] and "3 requests/s" in checks["source pubmed"][1]
    assert "email=lab@example.org" in checks["source pubmed"][1]
    assert "polite pool: mailto=lab@example.org" in checks["source crossref"][1]
    monkeypatch.setenv("NCBI_API_KEY", "k")
    keyed = dict((w, d) for w, _ok, d in source_checks(settings))["source pubmed"]
    assert "NCBI_API_KEY set" in keyed and "10 requests/s" in keyed
    eutils.stop()  # the fixture's second stop returns at once
    cref.stop()
    down = {w: ok for w, ok, _d in source_checks(settings)}
    assert down == {"source pubmed": False, "source crossref": False}
