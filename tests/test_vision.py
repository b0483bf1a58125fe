"""A figure read by a planner that accepts images reaches its next prompt as an image part (loopback chat
server); a text-only planner gets caption and text only. Old images leave the prompt after a few steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import pdfs
from support.figure_planner import run_planner
from support.openai_server import ChatServer
from support.scripted import code

from agent_scientist.agent.models import accepts_images
from agent_scientist.agent.registry import ToolContext, build_toolbox
from agent_scientist.config import ConfigError, load_settings
from agent_scientist.papers.tool import PapersCapability, ingest_pdfs
from agent_scientist.workspace import Workspace


def _image_parts(request: dict) -> list[dict]:
    return [part for message in request.get("messages", []) if isinstance(message.get("content"), list)
            for part in message["content"] if isinstance(part, dict) and part.get("type") == "image_url"]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")  # the loopback server ignores it; litellm wants one


def _run(home: Path, tmp_path: Path, vision: str, steps: int = 0) -> tuple[ChatServer, str]:
    path = tmp_path / "visual.pdf"
    path.write_bytes(pdfs.make_visual_paper())
    settings = load_settings({"home": str(home), "model": "openai/scripted", "vision": vision})
    ws = Workspace.create(home, f"v-{vision}-{steps}")
    (added,) = ingest_pdfs(ws, settings, [path])
    pid = added["id"]
    script = [code(f'print(read_paper("{pid}", figure=2))')]
    script += [code(f'print(read_paper("{pid}", page={n + 1})[:40])') for n in range(steps)]
    script += [code('final_answer("done")')]
    with ChatServer(script, accepts_parts=vision == "on") as server:
        settings = load_settings({"home": str(home), "model": "openai/scripted", "vision": vision,
                                  "api_base": server.url})
        box = build_toolbox(ToolContext(ws, settings), [PapersCapability()])
        assert run_planner(settings, box, "Look at figure 2") == "done"
    return server, pid


def test_a_planner_that_accepts_images_sees_the_figure(home, tmp_path) -> None:
    server, _pid = _run(home, tmp_path, "on")
    first, second = server.requests[0], server.requests[1]
    assert _image_parts(first) == []
    [part] = _image_parts(second)  # the figure, in the prompt after the step that read it
    assert part["image_url"]["url"].startswith("data:image/png;base64,")
    assert "image is attached to this observation" in str(second["messages"])


def test_a_text_only_planner_gets_caption_and_text(home, tmp_path) -> None:
    server, _pid = _run(home, tmp_path, "off")
    assert all(_image_parts(r) == [] for r in server.requests)
    assert "Caption and text only" in str(server.requests[1]["messages"])
    assert "Fig. 2. A raster heat map" in str(server.requests[1]["messages"])


def test_old_images_leave_the_prompt(home, tmp_path) -> None:
    server, _pid = _run(home, tmp_path, "on", steps=4)
    counts = [len(_image_parts(r)) for r in server.requests]
    assert counts == [0, 1, 1, 1, 0, 0]  # kept for three steps, then dropped like old observations


def test_vision_auto_asks_litellm_and_bad_values_are_refused(home) -> None:
    assert accepts_images(load_settings({"home": str(home), "model": "openai/gpt-4o"}))
    assert not accepts_images(load_settings({"home": str(home), "model": "openai/gpt-3.5-turbo"}))
    assert not accepts_images(load_settings({"home": str(home), "model": "ollama/no-such-model"}))
    behind = {"home": str(home), "model": "openai/gpt-4o", "api_base": "http://127.0.0.1:9/v1"}
    assert not accepts_images(load_settings(behind)) and accepts_images(load_settings({**behind, "vision": "on"}))
    with pytest.raises(ConfigError, match="'vision' must be one of auto, on, off"):
        load_settings({"home": str(home), "vision": "maybe"})
