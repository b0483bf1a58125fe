"""Server mode: the same memory on a real Chroma server started on 127.0.0.1, and a server that is down."""

from __future__ import annotations

import dataclasses

from support.chroma_server import chroma_server, free_port
from support.memory_box import memory_box

from agent_scientist.agent.registry import planner_tools
from agent_scientist.contracts import ToolContext
from agent_scientist.memory import read_notes
from agent_scientist.workspace import Workspace


def box_for(settings, name):
    ws = Workspace.open_or_create(settings.home, name)
    ctx = ToolContext(ws=ws, settings=settings)
    ctx, box = memory_box(ctx)
    return ctx, {t.name: t for t in planner_tools(box)}


def test_memory_on_a_real_chroma_server(settings, tmp_path):
    with chroma_server(tmp_path / "chroma") as url:
        remote = dataclasses.replace(settings, memory_url=url)
        ctx, tools = box_for(remote, "alpha")
        assert ctx.memory is not None and ctx.warnings == []
        tools["remember"]("Label smoothing improves calibration.", source="arXiv:1906.02629v3", page=4)
        merged = tools["remember"]("Label smoothing improves calibration", source="arXiv:2001.00001")
        assert "arXiv:1906.02629v3; arXiv:2001.00001" in merged
        ctx.memory.add_passages("1906.02629v3", [{"text": "ECE drops with smoothing.", "page_start": 4,
                                                  "page_end": 4}])
        hits = tools["recall"]("calibration", k=5)
        assert {h["kind"] for h in hits} == {"finding", "passage"}
        # Nothing went to the workspace folder; another workspace on the same server is separate.
        assert not (ctx.ws.memory_dir / "chroma.sqlite3").exists()
        other, _ = box_for(remote, "beta")
        assert read_notes(other.ws, remote) == []
        assert [n["page"] for n in read_notes(ctx.ws, remote)] == [4]


def test_a_server_that_is_down_disables_memory_with_a_clear_message(settings):
    down = dataclasses.replace(settings, memory_url=f"http://127.0.0.1:{free_port()}")
    ctx, _ = box_for(down, "gamma")
    assert ctx.memory is None
    assert "Memory is disabled for this run" in ctx.warnings[0]
    assert "is not reachable" in ctx.warnings[0] and "chroma run" in ctx.warnings[0]


def test_cli_reports_a_server_that_is_down(cli, home):
    from conftest import cli_env

    env = cli_env(home, AGENT_SCIENTIST_MEMORY_URL=f"http://127.0.0.1:{free_port()}")
    result = cli("memory", "add", "delta", "A note.", env=env)
    assert result.returncode == 2
    assert "is not reachable" in result.stderr and "Traceback" not in result.stderr


def test_a_workspace_keeps_its_chroma_server_across_commands(cli, home, tmp_path):
    """research --memory-url records the server; memory list and resume then use it without the flag."""
    import json

    from support.openai_server import ChatServer
    from support.scripted import code

    with chroma_server(tmp_path / "chroma") as url, ChatServer([
        code("print(remember('Warm-up shortens training by 10%.', source='run:1'))"),
        code('final_answer("done")'),
    ]) as chat:
        ran = cli("research", "Q?", "--name", "srv", "--model", "openai/m", "--worker-model", "openai/worker",
                  "--api-base", chat.url, "--memory-url", url, "--quiet")
        assert ran.returncode == 0, ran.stderr
        listed = cli("memory", "list", "srv", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [n["text"] for n in json.loads(listed.stdout)] == ["Warm-up shortens training by 10%."]
    assert not (home / "srv" / "memory" / "chroma.sqlite3").exists()  # nothing went to the embedded store
