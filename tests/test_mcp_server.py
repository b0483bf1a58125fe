"""`agent-scientist mcp` driven by the official MCP client, over stdio and streamable HTTP, against a
loopback arXiv: the same tools as the planner's, tool errors that keep the server alive, resources."""

from __future__ import annotations

import base64
import json
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from conftest import cli_env, run_cli
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from support.arxiv_server import ArxivServer
from support.mcp_http import http_server

PLANNER_TOOLS = {"search_papers", "read_paper", "remember", "recall"}


def _text(result) -> str:
    return "\n".join(part.text for part in result.content if getattr(part, "text", None) is not None)


@asynccontextmanager
async def _stdio(home: Path, env: dict, *args: str):
    params = StdioServerParameters(command=sys.executable, args=["-m", "agent_scientist", "mcp", *args],
                                   env=env, cwd=str(home.parent))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def _exercise(session: ClientSession, home: Path) -> None:
    """The checks shared by both transports, on a server started with --workspace lab."""
    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert PLANNER_TOOLS <= set(tools) and not {"run_experiment", "edit_file"} & set(tools)
    schema = tools["search_papers"].inputSchema
    assert schema["required"] == ["query"] and schema["properties"]["max_results"]["default"] == 10
    assert "arXiv" in tools["search_papers"].description

    found = await session.call_tool("search_papers", {"query": "au:Smith"})
    assert not found.isError, _text(found)
    [hit] = json.loads(_text(found))
    assert hit["id"] == "2402.00002v1"

    page = await session.call_tool("read_paper", {"paper_id": "2402.00002", "page": 2})
    assert not page.isError and _text(page).startswith("[arXiv:2402.00002v1 p.2/")
    assert (home / "lab" / "papers").glob("*/meta.json")

    figure = await session.call_tool("read_paper", {"paper_id": "2401.00001", "figure": 1})
    assert not figure.isError and "Caption: Figure 1: Accuracy of sparse widgets" in _text(figure)
    [image] = [c for c in figure.content if c.type == "image"]  # the figure itself, as an image content
    assert image.mimeType == "image/png" and base64.b64decode(image.data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [c for c in page.content if c.type == "image"]

    bad = await session.call_tool("search_papers", {"query": "x", "max_results": "many"})
    assert bad.isError and "max_results" in _text(bad)
    raised = await session.call_tool("read_paper", {"paper_id": "2405.00013"})  # a corrupt PDF
    assert raised.isError and "cannot be read" in _text(raised)
    dates = await session.call_tool("search_papers", {"query": "gadgets", "start_date": "last week"})
    assert dates.isError and "YYYY-MM-DD" in _text(dates)

    saved = await session.call_tool("remember", {"content": "Sparse widgets gain 3.1 points on GadgetBench.",
                                                 "source": "arXiv:2401.00001v2", "page": 2})
    assert not saved.isError, _text(saved)
    recalled = await session.call_tool("recall", {"query": "how much do sparse widgets gain?"})
    notes = json.loads(_text(recalled))
    assert notes and "3.1 points" in json.dumps(notes)
    assert (await session.call_tool("recall", {"query": "   "})).isError

    again = await session.call_tool("search_papers", {"query": "au:Smith"})  # still alive after the errors
    assert not again.isError


def test_stdio_server_serves_the_planner_tools(home: Path, arxiv: ArxivServer) -> None:
    env = cli_env(home, **arxiv.env())

    async def main() -> None:
        async with _stdio(home, env, "--workspace", "lab") as session:
            await _exercise(session, home)
            resources = {str(r.uri) for r in (await session.list_resources()).resources}
            assert "workspace://lab/papers" in resources
            listed = await session.read_resource("workspace://lab/papers")
            assert "2402.00002v1" in listed.contents[0].text

    anyio.run(main)


def test_without_a_workspace_papers_go_to_the_shared_cache_and_memory_says_why_not(
        home: Path, arxiv: ArxivServer) -> None:
    (home / "done").mkdir()
    env = cli_env(home, **arxiv.env())

    async def main() -> None:
        async with _stdio(home, env) as session:
            names = {t.name for t in (await session.list_tools()).tools}
            assert {"search_papers", "read_paper"} <= names and "remember" not in names
            page = await session.call_tool("read_paper", {"paper_id": "2402.00002", "page": 1})
            assert not page.isError
            note = await session.call_tool("remember", {"content": "x"})
            assert note.isError and "--workspace NAME" in _text(note)
            evidence = await session.call_tool("gather_evidence", {"question": "x"})
            assert evidence.isError and "need a workspace" in _text(evidence)

    anyio.run(main)
    assert list((home / ".papers-cache" / "papers").glob("*/meta.json"))


def test_without_a_workspace_the_start_says_which_tools_need_one_and_how(home: Path) -> None:
    started = run_cli(home, "mcp", input="")  # stdin at its end: the stdio server starts and stops
    assert started.returncode == 0, started.stderr
    assert ("Note: remember, recall, gather_evidence need a workspace (they use its memory), so they are not "
            "served: start with `agent-scientist mcp --workspace NAME`") in started.stderr
    assert "tools: search_papers, read_paper, paper_graph" in started.stderr
    helped = run_cli(home, "mcp", "--help")
    assert "with --workspace remember, recall and gather_evidence" in " ".join(helped.stdout.split())
    with_one = run_cli(home, "mcp", "--workspace", "lab", input="")
    assert with_one.returncode == 0 and "need a workspace" not in with_one.stderr
    assert "remember" in with_one.stderr.split("tools: ")[1]


def test_resources_list_reports_and_paper_lists(home: Path, arxiv: ArxivServer) -> None:
    from agent_scientist.workspace import Workspace

    ws = Workspace.create(home, "finished", "Q?")
    ws.report_path.write_text("# Report\n\nWidgets work [1, p.2].\n")

    async def main() -> None:
        async with _stdio(home, cli_env(home)) as session:
            uris = {str(r.uri) for r in (await session.list_resources()).resources}
            assert {"workspace://finished/report.md", "workspace://finished/papers"} <= uris
            report = await session.read_resource("workspace://finished/report.md")
            assert report.contents[0].text.startswith("# Report")
            with pytest.raises(Exception, match="No workspace"):
                await session.read_resource("workspace://nope/papers")
            assert (await session.read_resource("workspace://finished/papers")).contents[0].text == "[]"

    anyio.run(main)


def test_http_server_on_loopback(home: Path, arxiv: ArxivServer) -> None:
    with http_server(home, cli_env(home, **arxiv.env()), "--workspace", "lab") as url:

        async def main() -> None:
            async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
                await session.initialize()
                await _exercise(session, home)

        anyio.run(main)
        foreign = httpx.post(url, headers={"Host": "evil.example"}, json={})
        assert foreign.status_code in (400, 421)  # DNS rebinding protection on loopback


def test_experiments_are_served_only_when_allowed(home: Path) -> None:
    async def names(*args: str) -> set[str]:
        async with _stdio(home, cli_env(home), *args) as session:
            return {t.name for t in (await session.list_tools()).tools}

    assert {"run_experiment", "edit_file"} <= anyio.run(names, "--workspace", "lab", "--allow-experiments")


def test_the_sdk_is_not_shadowed_by_our_package() -> None:
    import mcp

    import agent_scientist.mcp.server  # noqa: F401

    assert hasattr(mcp, "ClientSession") and "agent_scientist" not in mcp.__file__


def test_bad_flags_are_refused_before_serving(cli) -> None:
    experiments = cli("mcp", "--allow-experiments")
    assert experiments.returncode == 2 and "needs --workspace NAME" in experiments.stderr
    transport = cli("mcp", "--transport", "sse")
    assert transport.returncode == 2 and "use stdio or http" in transport.stderr


@pytest.mark.parametrize("spelling", ["127.1", "127.0.0.2", "0x7f.1"])
def test_any_loopback_spelling_keeps_the_host_and_origin_checks(home: Path, spelling: str) -> None:
    """Finding 8 of issue 21: `--host 127.1` listened on loopback with the checks turned off."""
    with http_server(home, cli_env(home), host=spelling) as url:
        for headers in ({"Host": "evil.example"}, {"Origin": "http://evil.example"}):
            foreign = httpx.post(url, headers={"Accept": "application/json, text/event-stream", **headers},
                                 json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                                     "protocolVersion": "2025-03-26", "capabilities": {},
                                     "clientInfo": {"name": "t", "version": "1"}}})
            assert foreign.status_code in (400, 403, 421), (headers, foreign.status_code, foreign.text[:200])

        async def main() -> None:  # a client naming the address it was given still gets a session
            async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
                await session.initialize()

        anyio.run(main)


def test_other_hosts_keep_the_checks_and_wildcards_are_refused(home: Path) -> None:
    from agent_scientist.mcp.server import transport_security

    for host in ("localhost", "::1", "[::1]", "127.1", "0x7f.1", "192.0.2.7", "lab.example"):
        security = transport_security(host, 8765)
        assert security.enable_dns_rebinding_protection, host
        assert not any("evil" in h for h in security.allowed_hosts)
    assert "127.0.0.1:8765" in transport_security("127.1", 8765).allowed_hosts
    assert transport_security("192.0.2.7", 8765).allowed_hosts[0] == "192.0.2.7:8765"
    result = run_cli(home, "mcp", "--transport", "http", "--host", "0.0.0.0", env=cli_env(home), timeout=60)
    assert result.returncode != 0 and "0.0.0.0" in result.stderr and "Traceback" not in result.stderr


def test_experiments_through_mcp_take_the_workspace_lock(home: Path) -> None:
    """Finding 3 of issue 21: `mcp --allow-experiments` ran experiments beside a research run on the same
    workspace (the race that made root chown a host file); now a call is refused while another holds it."""
    from agent_scientist.workspace import Workspace

    ws = Workspace.open_or_create(home, "lab")
    (ws.files_dir / "hello.py").write_text("print('ran')\n")

    async def main() -> None:
        async with _stdio(home, cli_env(home), "--workspace", "lab", "--allow-experiments") as session:
            with ws.lock():  # what a research run on "lab" holds for its whole run
                refused = await session.call_tool("run_experiment", {"script": "hello.py"})
                assert refused.isError and "in use by process" in _text(refused), _text(refused)
                assert "call it again" in _text(refused)
                edit = await session.call_tool("edit_file", {"command": "create", "path": "x.py", "file_text": "print(1)\n"})
                assert edit.isError and "in use" in _text(edit)
            ran = await session.call_tool("run_experiment", {"script": "hello.py"})
            assert not ran.isError and "ran" in _text(ran), _text(ran)

    anyio.run(main)
