"""The papers tools inside a real smolagents CodeAgent (scripted model): results and failures are observations."""

from __future__ import annotations

from pathlib import Path

from smolagents import CodeAgent
from support.arxiv_server import ArxivServer, standard_catalogue
from support.scripted import ScriptedModel, code

from agent_scientist.agent.registry import build_toolbox, planner_tools
from agent_scientist.config import load_settings
from agent_scientist.contracts import ToolContext
from agent_scientist.papers.tool import PapersCapability
from agent_scientist.workspace import Workspace


def test_planner_code_calls_the_tools_and_sees_failures_as_observations(home: Path) -> None:
    server = ArxivServer(standard_catalogue()).start()
    try:
        s = load_settings({"home": str(home), "arxiv_api_url": server.api_url, "arxiv_pdf_url": server.pdf_url,
                           "arxiv_delay": 0})
        ws = Workspace.create(home, "agent")
        box = build_toolbox(ToolContext(ws, s), [PapersCapability()])
        model = ScriptedModel([
            code('hits = search_papers("au:Smith", max_results=3)\nprint(hits[0]["id"], hits[0]["source"])'),
            code('print(read_paper("no such id"))'),
            code('print(read_paper("2402.00002", page=2)[:60])'),
            code('print(read_paper("2405.00012v1"))'),
            code('final_answer("Dense gadgets [arXiv:2402.00002 p.2]")'),
        ])
        agent = CodeAgent(tools=planner_tools(box), model=model, max_steps=6, instructions="\n".join(box.instructions))
        assert agent.run("Find papers by Smith") == "Dense gadgets [arXiv:2402.00002 p.2]"
        assert "2402.00002v1 arxiv" in model.calls[1]
        assert "Malformed paper id 'no such id'" in model.calls[2]
        assert "[arXiv:2402.00002v1 p.2/4]" in model.calls[3]
        assert "empty body instead of a PDF" in model.calls[4] and "Nothing was saved" in model.calls[4]
        assert "[arXiv:2401.01234 p.3]" in model.calls[0]  # the citation hint reached the instructions
    finally:
        server.stop()
