"""search_papers against a real loopback arXiv: query syntax, paging, sorting, dates, cache, failures."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from support.arxiv_server import ArxivServer

from agent_scientist.agent.registry import planner_tools
from agent_scientist.config import load_settings
from agent_scientist.contracts import Toolbox, ToolContext, ToolError
from agent_scientist.papers.tool import PapersCapability, search
from agent_scientist.workspace import Workspace


@pytest.fixture
def ws(home: Path) -> Workspace:
    return Workspace.create(home, "w")


def make_settings(home: Path, server: ArxivServer, **extra):
    return load_settings({"home": str(home), "arxiv_api_url": server.api_url, "arxiv_pdf_url": server.pdf_url,
                          "arxiv_delay": 0, "http_timeout": 2, **extra})


def ids(results: list[dict]) -> list[str]:
    return [r["id"] for r in results if r["source"] == "arxiv"]


def test_tools_have_the_exact_names_and_parameters(ws, arxiv, home) -> None:
    box = Toolbox()
    PapersCapability().register(ToolContext(ws, make_settings(home, arxiv)), box)
    tools = {t.name: t for t in planner_tools(box)}
    assert list(tools["search_papers"].inputs) == ["query", "max_results", "sort_by", "start_date", "end_date",
                                                   "offset", "source"]
    assert list(tools["read_paper"].inputs) == ["paper_id", "page", "query", "table", "figure"]
    assert list(tools["paper_graph"].inputs) == ["paper_id", "direction", "limit", "offset"]
    found = tools["search_papers"](query="ti:sparse AND ti:widgets")
    assert ids(found) == ["2401.00001v2"]
    assert set(found[0]) >= {"id", "title", "authors", "published", "categories", "abstract", "pdf_url", "year",
                             "venue", "citation_count", "open_access", "sources"}


def test_query_syntax_passes_through(ws, arxiv, home) -> None:
    s = make_settings(home, arxiv)
    assert ids(search(ws, s, "au:Smith")) == ["2402.00002v1"]
    assert ids(search(ws, s, "cat:math.CO")) == ["2303.00003v1"]
    assert "2402.00002v1" not in ids(search(ws, s, "ti:gadget ANDNOT ti:dense"))
    assert set(ids(search(ws, s, "ti:theory OR au:Smith"))) == {"2303.00003v1", "2402.00002v1"}
    assert arxiv.requests[0][2]["search_query"] == "au:Smith"


def test_paging_with_offset_and_sorting(ws, arxiv, home) -> None:
    s = make_settings(home, arxiv)
    first = ids(search(ws, s, "quasars", max_results=10, sort_by="submitted"))
    second = ids(search(ws, s, "quasars", max_results=10, sort_by="submitted", offset=10))
    third = ids(search(ws, s, "quasars", max_results=10, sort_by="submitted", offset=20))
    assert first[0] == "2201.00025v1" and second[0] == "2201.00015v1"
    assert len(first) == len(second) == 10 and len(third) == 5
    assert not set(first) & set(second) and len(set(first + second + third)) == 25
    updated = ids(search(ws, s, "quasars", max_results=3, sort_by="updated"))
    assert updated == ["2201.00001v1", "2201.00002v1", "2201.00003v1"]  # updated 06-29, 06-28, ...
    assert arxiv.requests[-1][2]["sortBy"] == "lastUpdatedDate"
    assert [r[2]["start"] for r in arxiv.requests[:3]] == ["0", "10", "20"]
    big = search(ws, s, "quasars", max_results=500)
    assert arxiv.requests[-1][2]["max_results"] == "50" and len(big) == 25


def test_date_filters(ws, arxiv, home) -> None:
    s = make_settings(home, arxiv)
    got = ids(search(ws, s, "gadget OR widgets", start_date="2024-01-01", end_date="2024-01-31"))
    assert got == ["2401.00001v2"]
    assert arxiv.requests[-1][2]["search_query"] == \
        "(gadget OR widgets) AND submittedDate:[202401010000 TO 202401312359]"
    later = ids(search(ws, s, "gadget OR widgets", start_date="2024-02-01"))
    assert "2402.00002v1" in later and "2401.00001v2" not in later
    earlier = ids(search(ws, s, "widgets", end_date="2023-12-31"))
    assert earlier == ["2303.00003v1"]


def test_results_are_bounded(ws, arxiv, home) -> None:
    s = make_settings(home, arxiv)
    [hit] = search(ws, s, "ti:long AND ti:author")
    assert len(hit["authors"]) == 6 and hit["authors"][-1] == "et al. (12 authors)"
    assert len(hit["abstract"]) < 700 and "read_paper" in hit["abstract"]


def test_repeated_search_uses_the_cache(ws, arxiv, home) -> None:
    s = make_settings(home, arxiv)
    first = search(ws, s, "quasars", max_results=5)
    assert arxiv.count("api") == 1
    assert search(ws, s, "quasars", max_results=5) == first
    assert arxiv.count("api") == 1
    search(ws, s, "quasars", max_results=5, offset=5)
    assert arxiv.count("api") == 2


def test_workspace_papers_are_searched_and_marked(ws, arxiv, home) -> None:
    from support import pdfs

    from agent_scientist.papers.tool import ingest_pdfs

    s = make_settings(home, arxiv)
    pdf = home.parent / "mine.pdf"
    pdf.write_bytes(pdfs.make_plain("Notes on zeppelin aerodynamics and lift.", title="Zeppelin lift notes"))
    [meta] = ingest_pdfs(ws, s, [pdf])
    got = search(ws, s, "zeppelin lift")
    assert got[0]["id"] == meta["id"] and got[0]["source"] == "workspace"
    assert not ids(got)  # arXiv has nothing on zeppelins, the workspace does


@pytest.mark.parametrize("kwargs, message", [
    ({"query": "  "}, "Empty query"),
    ({"query": "x", "sort_by": "popularity"}, "sort_by='popularity' is unknown"),
    ({"query": "x", "start_date": "2024/01/01"}, "not a date: use YYYY-MM-DD"),
    ({"query": "x", "start_date": "2024-05-01", "end_date": "2024-01-01"}, "after end_date"),
    ({"query": "x", "max_results": "ten"}, "max_results='ten' is not a whole number"),
    ({"query": "x", "offset": [10]}, r"offset=\[10\] is not a whole number"),
])
def test_bad_arguments_are_explained(ws, arxiv, home, kwargs, message) -> None:
    with pytest.raises(ToolError, match=message):
        search(ws, make_settings(home, arxiv), **kwargs)
    assert arxiv.count() == 0


def test_no_results_is_a_clear_message(ws, arxiv, home) -> None:
    with pytest.raises(ToolError, match="No arXiv results for 'ti:nonexistentword'"):
        search(ws, make_settings(home, arxiv), "ti:nonexistentword")


def test_rate_limit_and_server_errors_are_retried(ws, arxiv, home) -> None:
    arxiv.fail("api", "429", "500", "503")
    assert ids(search(ws, make_settings(home, arxiv), "au:Smith")) == ["2402.00002v1"]
    assert arxiv.count("api") == 4


def test_timeout_is_retried(ws, arxiv, home) -> None:
    arxiv.hang_seconds = 1.0
    arxiv.fail("api", "hang")
    assert ids(search(ws, make_settings(home, arxiv, http_timeout=0.3), "au:Smith")) == ["2402.00002v1"]
    assert arxiv.count("api") == 2


@pytest.mark.parametrize("failure, message", [
    ("500", "answered HTTP 500 (after 4 tries)"),
    ("malformed", "malformed XML"),
    ("html", "not an Atom feed"),
    ("empty", "empty answer"),
])
def test_persistent_failures_become_clear_messages(ws, arxiv, home, failure, message) -> None:
    arxiv.fail("api", *[failure] * 4)
    with pytest.raises(ToolError, match=f"arXiv search failed: .*{re.escape(message)}"):
        search(ws, make_settings(home, arxiv), "au:Smith")
    assert not list((ws.papers_dir / ".search").glob("*.json"))  # nothing cached from a failure


def test_no_entries_answer(ws, arxiv, home) -> None:
    arxiv.fail("api", "noentries")
    with pytest.raises(ToolError, match="No arXiv results"):
        search(ws, make_settings(home, arxiv), "au:Smith")


def test_no_network_at_all(ws, home) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connections are refused
    s = load_settings({"home": str(home), "arxiv_api_url": f"http://127.0.0.1:{port}/api/query",
                       "arxiv_delay": 0, "http_timeout": 1})
    with pytest.raises(ToolError, match="connection to the arXiv API failed"):
        search(ws, s, "anything")


def test_an_id_arxiv_rejects_is_explained(arxiv, home) -> None:
    from agent_scientist.papers.arxiv import FetchError, query_api

    with pytest.raises(FetchError, match="arXiv rejected the request: incorrect id format for 1234.5"):
        query_api(make_settings(home, arxiv), id_list=("1234.5",))
    assert arxiv.count("api") == 1  # a 400 is not retried


def test_one_politeness_clock_for_the_whole_process(ws, arxiv, home) -> None:
    s = make_settings(home, arxiv, arxiv_delay=0.2)
    other = Workspace.create(home, "other")
    search(ws, s, "au:Smith")
    search(other, s, "cat:math.CO")  # another workspace, same process: same clock
    from agent_scientist.papers.tool import read

    read(other, s, "2303.00003")
    gaps = [b - a for a, b in zip(arxiv.times, arxiv.times[1:], strict=False)]
    assert [r[0] for r in arxiv.requests] == ["api", "api", "pdf"]
    assert min(gaps) >= 0.19  # a lower bound only: slowness cannot break it


def test_the_last_result_says_how_to_get_more(ws, arxiv, home) -> None:
    s = make_settings(home, arxiv)
    first = search(ws, s, "quasars", max_results=10, sort_by="submitted")
    assert first[-1]["more"] == ("arXiv results 1-10 of 25; next page: search_papers(same query, offset=10).")
    assert all("more" not in r for r in first[:-1])
    last = search(ws, s, "quasars", max_results=10, sort_by="submitted", offset=20)
    assert last[-1]["more"] == "arXiv results 21-25 of 25; no more."
    assert search(ws, s, "quasars", max_results=10, sort_by="submitted")[-1]["more"] == first[-1]["more"]  # cached


def test_many_results_get_shorter_abstracts(ws, arxiv, home) -> None:
    s = make_settings(home, arxiv)
    [hit] = search(ws, s, "ti:long AND ti:author", max_results=50)
    assert len(hit["abstract"]) < 300 and "read_paper" in hit["abstract"]


def test_repeated_search_works_with_no_network(ws, arxiv, home) -> None:
    s = make_settings(home, arxiv)
    first = search(ws, s, "ti:theory OR au:Smith", sort_by="updated", start_date="2023-01-01")
    arxiv.stop()
    assert search(ws, s, "ti:theory OR au:Smith", sort_by="updated", start_date="2023-01-01") == first
    with pytest.raises(ToolError, match="arXiv search failed"):
        search(ws, s, "ti:theory OR au:Smith", sort_by="relevance")  # another request: not cached


def test_an_unreachable_host_says_no_network_without_four_tries(ws, home) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = load_settings({"home": str(home), "arxiv_api_url": f"http://127.0.0.1:{port}/api/query",
                       "arxiv_delay": 0, "http_timeout": 1})
    with pytest.raises(ToolError) as caught:
        search(ws, s, "anything")
    text = str(caught.value)
    assert f"127.0.0.1:{port} cannot be reached (connection refused); no network" in text
    assert "tries" not in text and len(text) < 300
