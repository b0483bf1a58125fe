"""search_papers across arXiv, Semantic Scholar and OpenAlex (loopback servers): merge, de-duplication,
failures that do not fail the call, sorting, dates and the cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import pdfs
from support.arxiv_server import ArxivServer, entry
from support.scholar_server import ScholarServer, Work

from agent_scientist.config import load_settings
from agent_scientist.contracts import ToolError
from agent_scientist.papers.search import search
from agent_scientist.papers.sources.works import merge, record
from agent_scientist.workspace import Workspace

A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)
DOI_A, DOI_B = "10.1000/widgets.2024", "10.1093/mind/lix.236.433"


def scholar_works() -> list[Work]:
    return [
        Work(A, "Sparse widgets improve gadget accuracy", 2024, doi=DOI_A, arxiv="2401.00001", venue="NeurIPS",
             citations=40, kind="proceedings-article", references=[B, C]),
        Work(B, "Computing widgets and intelligence", 1950, doi=DOI_B, venue="Mind", citations=9000,
             pdf=pdfs.make_paper(3, salt="mind"), abstract="Can widgets think?", tldr="Widgets may think."),
        Work(C, "A retracted study of widgets", 2021, doi="10.5555/retracted.1", citations=3, retracted=True),
        Work(D, "Widgets nobody indexed but S2", 2020, venue=None, citations=None, authors=[], in_openalex=False),
    ]


@pytest.fixture
def servers():
    arxiv = ArxivServer([entry("2401.00001v2", "Sparse widgets improve gadget accuracy", published="2024-01-03",
                               abstract="Sparse widgets improve gadget accuracy.", pdf=pdfs.make_paper(2))]).start()
    scholar = ScholarServer(scholar_works()).start()
    yield arxiv, scholar
    arxiv.stop()
    scholar.stop()


@pytest.fixture
def ws(home: Path) -> Workspace:
    return Workspace.create(home, "w")


def make_settings(home: Path, servers, **extra):
    arxiv, scholar = servers
    return load_settings({"home": str(home), "arxiv_api_url": arxiv.api_url, "arxiv_pdf_url": arxiv.pdf_url,
                          "arxiv_delay": 0, "http_timeout": 2, "semantic_scholar_api_url": scholar.base,
                          "semantic_scholar_delay": 0, "openalex_api_url": scholar.base,
                          "paper_sources": "arxiv,semantic_scholar,openalex", **extra})


def test_results_are_merged_and_deduplicated(ws, home, servers) -> None:
    results = search(ws, make_settings(home, servers), "widgets")
    by_id = {r["id"]: r for r in results}
    assert len(results) == len(by_id) == 4  # A from three sources is one result
    a = by_id["2401.00001v2"]
    assert a["sources"] == ["arxiv", "semantic_scholar", "openalex"]
    assert (a["venue"], a["citation_count"], a["doi"], a["open_access"]) == ("NeurIPS", 40, DOI_A, True)
    b = by_id[f"doi:{DOI_B}"]
    assert b["sources"] == ["semantic_scholar", "openalex"] and b["open_access"] and b["year"] == 1950
    assert by_id["doi:10.5555/retracted.1"]["retracted"] == "RETRACTED: do not rely on it"
    d = by_id[f"s2:{D}"]  # neither DOI nor arXiv id; null fields are empty, not errors
    assert d["venue"] == "" and d["citation_count"] is None and d["authors"] == []
    assert "merged from 3 source(s)" in results[-1]["more"]


def test_a_failing_source_does_not_fail_the_call(ws, home, servers) -> None:
    _arxiv, scholar = servers
    scholar.fail("s2", *["429"] * 4)
    results = search(ws, make_settings(home, servers), "widgets")
    failed = [r for r in results if "source_failed" in r]
    assert failed == [{"source_failed": "semantic_scholar",
                       "why": "Semantic Scholar answered HTTP 429 (rate limited) (after 4 tries)",
                       "fix": failed[0]["fix"]}]
    assert "SEMANTIC_SCHOLAR_API_KEY" in failed[0]["fix"]
    assert {r["id"] for r in results if "id" in r} == {"2401.00001v2", f"doi:{DOI_B}", "doi:10.5555/retracted.1"}


def test_a_long_retry_after_and_a_dripping_source_are_bounded(ws, home, servers) -> None:
    _arxiv, scholar = servers
    scholar.retry_after = 3600
    scholar.fail("s2", "429")
    scholar.fail("openalex", *["drip"] * 4)
    results = search(ws, make_settings(home, servers, http_timeout=1), "widgets")
    why = {r["source_failed"]: r["why"] for r in results if "source_failed" in r}
    assert "asked to wait 3600 s" in why["semantic_scholar"]
    assert "did not answer within 1 s" in why["openalex"]
    assert [r["id"] for r in results if "id" in r] == ["2401.00001v2"]


def test_every_source_failing_is_one_clear_error(ws, home, servers) -> None:
    arxiv, scholar = servers
    arxiv.fail("api", *["500"] * 4)
    scholar.fail("s2", *["500"] * 4)
    scholar.fail("openalex", *["500"] * 4)
    with pytest.raises(ToolError, match="Search failed in every source: arxiv: .*semantic_scholar: .*openalex: "):
        search(ws, make_settings(home, servers), "widgets")


def test_sort_by_citations_dates_and_one_source(ws, home, servers) -> None:
    s = make_settings(home, servers)
    ranked = [r["id"] for r in search(ws, s, "widgets", sort_by="citations", source="semantic_scholar,openalex")]
    assert ranked == [f"doi:{DOI_B}", "2401.00001", "doi:10.5555/retracted.1", f"s2:{D}"]
    recent = search(ws, s, "widgets", start_date="2021-01-01", end_date="2022-12-31", source="openalex")
    assert [r["id"] for r in recent] == ["doi:10.5555/retracted.1"]
    with pytest.raises(ToolError, match="source='scopus' is unknown"):
        search(ws, s, "widgets", source="scopus")


def test_a_repeated_search_needs_no_network(ws, home, servers) -> None:
    arxiv, scholar = servers
    s = make_settings(home, servers)
    first = search(ws, s, "widgets")
    before = (arxiv.count(), scholar.count())
    arxiv.stop()
    scholar.stop()
    assert search(ws, s, "widgets") == first
    assert before == (1, 2)


def test_merge_rules() -> None:
    """Same DOI, same arXiv id, or same normalised title and year: one paper; anything else: two."""
    one = record(title="Deep Widgets", year=2020, doi="10.1/x", sources=["semantic_scholar"], citation_count=5)
    same_doi = record(title="Deep widgets (extended)", year=2021, doi="10.1/x", sources=["openalex"], retracted=True)
    same_title = record(title="Deep  widgets!", year=2020, s2_id="e" * 40, sources=["semantic_scholar"])
    other_year = record(title="Deep Widgets", year=2019, s2_id="f" * 40, sources=["openalex"])
    arxiv = record(title="Deep Widgets", year=2020, arxiv_id="2001.00001v1", sources=["arxiv"])
    merged = merge([[one, other_year], [same_doi, same_title], [arxiv]])
    assert len(merged) == 2
    assert merged[0]["id"] == "2001.00001" and merged[0]["retracted"] and merged[0]["citation_count"] == 5
    assert merged[0]["sources"] == ["semantic_scholar", "openalex", "arxiv"]
    assert merged[1]["id"] == f"s2:{'f' * 40}"


def test_every_registered_source_keeps_the_protocol() -> None:
    from dataclasses import fields

    from agent_scientist.config import Settings
    from agent_scientist.papers.sources import registry

    known = {f.name for f in fields(Settings)}
    for name in registry.names():
        source = registry.get(name)
        assert source.name == name and source.title
        assert set(source.settings) <= known, f"{name} reads settings that do not exist"
        assert source.key_env == "" or source.key_env.endswith("_API_KEY")
    assert [s.name for s in registry.sources() if s.has_graph] == ["semantic_scholar"]


def test_a_source_is_one_module_and_one_registry_line(ws, home, servers, monkeypatch) -> None:
    from agent_scientist.config import ConfigError
    from agent_scientist.papers.sources import registry
    from agent_scientist.papers.tool import source_checks

    with pytest.raises(ConfigError, match="paper_sources.*mirror is not a paper source"):
        make_settings(home, servers, paper_sources="arxiv,mirror")
    monkeypatch.setitem(registry.REGISTRY, "mirror", "support.mirror_source")
    s = make_settings(home, servers, paper_sources="mirror")
    found = search(ws, s, "widgets")
    assert [(r["id"], r["sources"]) for r in found] == [("2401.00001v2", ["mirror"])]
    assert "merged from 1 source(s) (mirror 1 in all)" in found[-1]["more"]
    [(what, ok, detail)] = source_checks(s)
    assert (what, ok) == ("source mirror", True) and "reachable" in detail
    arxiv, _ = servers
    arxiv.stop()
    with pytest.raises(ToolError, match="arXiv mirror search failed"):
        search(ws, s, "gadgets")
