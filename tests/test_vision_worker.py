"""A planner that cannot see images gets the worker's description of a figure, asked once from the image (the
loopback chat server sees the image part) and cached; with no model that sees images, the paper's sentences
about it. The reviewer gets a cited figure's image, else the recorded description, and records which."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pymupdf
import pytest
from PIL import Image
from support import pdfs
from support.figure_planner import run_planner
from support.openai_server import ChatServer
from support.review_ws import verdicts
from support.scripted import code

from agent_scientist.agent.models import accepts_images, build_model
from agent_scientist.agent.registry import ToolContext, build_toolbox
from agent_scientist.config import ConfigError, Settings, load_settings
from agent_scientist.papers.describe import describe, description_path, nearby_text
from agent_scientist.papers.layout import paper_dir
from agent_scientist.papers.tool import PapersCapability, ingest_pdfs
from agent_scientist.papers.visuals import ensure
from agent_scientist.review.check import TOKENS_PER_ITEM
from agent_scientist.review.revise import check_answer
from agent_scientist.workspace import Workspace

DESCRIPTION = "A square heat map; the gadget is hottest in the middle, about 0.9, and cool at the edges."
MENTION = "As Figure 2 shows, the gadget runs hot in the middle."


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")  # the loopback server ignores it; litellm wants one


def _paper(home: Path, tmp_path: Path, name: str = "w") -> tuple[Workspace, str]:
    doc = pymupdf.open(stream=pdfs.make_visual_paper(), filetype="pdf")
    pdfs.write_line(doc[0], (72, 720), MENTION)  # the paper's own sentence about figure 2
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(doc.tobytes())
    ws = Workspace.create(home, name, "Where is the gadget hottest?")
    (added,) = ingest_pdfs(ws, load_settings({"home": str(home)}), [path])
    ensure(paper_dir(ws, added["id"]))
    return ws, added["id"]


def _settings(home: Path, server: ChatServer, **extra: Any) -> Settings:
    return load_settings({"home": str(home), "model": "openai/scripted", "worker_model": "openai/worker",
                          "api_base": server.url, "vision": "off", "model_retries": 0, **extra})


def _images(request: dict) -> list[str]:
    return [part["image_url"]["url"] for message in request.get("messages", [])
            if isinstance(message.get("content"), list) for part in message["content"]
            if isinstance(part, dict) and part.get("type") == "image_url"]


def _worker_requests(server: ChatServer) -> list[dict]:
    return [r for r in server.requests if r.get("model") == "worker"]


def _read_paper(settings: Settings, ws: Workspace, worker: Any) -> Any:
    box = build_toolbox(ToolContext(ws, settings, worker_model=worker), [PapersCapability()])
    return next(f for f in box.functions if f.__name__ == "read_paper")


def test_a_text_only_planner_gets_the_workers_description_asked_once(home, tmp_path) -> None:
    ws, pid = _paper(home, tmp_path)
    folder = paper_dir(ws, pid)
    script = [code(f'print(read_paper("{pid}", figure=2))'), code(f'print(read_paper("{pid}", figure=2))'),
              code('final_answer("done")')]
    with ChatServer(script, worker_script=[DESCRIPTION], accepts_parts=True) as server:
        settings = _settings(home, server, worker_vision="on")
        box = build_toolbox(ToolContext(ws, settings, worker_model=build_model(settings, "worker")),
                            [PapersCapability()])
        assert run_planner(settings, box, "Look at figure 2", max_steps=6) == "done"
    [asked] = _worker_requests(server)  # two reads, one description
    [url] = _images(asked)
    assert url.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.size == Image.open(folder / "figure-2.png").size  # the figure's own PNG
    assert "Fig. 2. A raster heat map of the gadget." in json.dumps(asked["messages"])
    assert 0 < asked["max_tokens"] <= 400
    planner = [r for r in server.requests if r.get("model") == "scripted"]
    assert all(_images(r) == [] for r in planner)  # the planner never gets the image
    after = json.dumps(planner[1]["messages"])
    assert DESCRIPTION in after and "by the worker model openai/worker" in after and "not the paper's words" in after
    framed = after.split("by the worker model openai/worker")[1]
    assert framed.index("<<untrusted source=") < framed.index(DESCRIPTION) < framed.index("<<end untrusted>>")
    assert DESCRIPTION in json.dumps(planner[2]["messages"]).split("Observation")[-1]  # the second read: cached
    cached = json.loads(description_path(folder, 2).read_text())
    assert cached["text"] == DESCRIPTION and cached["model"] == "openai/worker"
    with ChatServer([], accepts_parts=True) as again:  # another process: the cache answers, no request
        settings = _settings(home, again, worker_vision="on")
        text = _read_paper(settings, ws, build_model(settings, "worker"))(pid, figure=2)
    assert DESCRIPTION in text and again.requests == []


def test_a_failed_description_is_not_kept_and_is_asked_again(home, tmp_path) -> None:
    ws, pid = _paper(home, tmp_path)
    with ChatServer([], worker_script=[500, DESCRIPTION], accepts_parts=True) as server:
        settings = _settings(home, server, worker_vision="on")
        read_paper = _read_paper(settings, ws, build_model(settings, "worker"))
        first = read_paper(pid, figure=2)
        assert "could not describe it" in first and MENTION in first  # the paper's sentence stands in
        assert not description_path(paper_dir(ws, pid), 2).exists()
        assert DESCRIPTION in read_paper(pid, figure=2)
    assert len(_worker_requests(server)) == 2


def test_with_no_model_that_sees_images_the_caption_and_the_papers_sentences(home, tmp_path) -> None:
    ws, pid = _paper(home, tmp_path)
    with ChatServer([], worker_script=[DESCRIPTION], accepts_parts=True) as server:
        settings = _settings(home, server, worker_vision="off")
        text = _read_paper(settings, ws, build_model(settings, "worker"))(pid, figure=2)
    assert server.requests == []
    assert "neither the planner nor the worker model is shown images" in text
    assert "Fig. 2. A raster heat map of the gadget." in text
    tail = text.split("The paper's text about it:")[1]
    assert tail.index("<<untrusted source=") < tail.index(f"p.1: {MENTION}") < tail.index("<<end untrusted>>")


def _cite_figure(ws: Workspace, pid: str) -> None:
    ws.append_step({"type": "action", "step": 1, "tokens_in": 10, "tokens_out": 5,
                    "final_answer": f"The gadget is hottest in the middle of the heat map [{pid} fig.2]."})


def test_the_reviewer_gets_the_cited_figures_image(home, tmp_path) -> None:
    ws, pid = _paper(home, tmp_path)
    _cite_figure(ws, pid)
    with ChatServer([], worker_script=[verdicts(("supported", "A raster heat map of the gadget"))],
                    accepts_parts=True) as server:
        settings = _settings(home, server, worker_vision="on", review_rounds=1)
        record = check_answer(ws, settings, build_model(settings, "worker"))
    [asked] = _worker_requests(server)
    [url] = _images(asked)
    assert url.startswith("data:image/png;base64,")
    assert "IMAGE: the figure itself is attached below as image 1." in json.dumps(asked["messages"])
    assert asked["max_tokens"] == TOKENS_PER_ITEM + 100  # the reviewer's own cap, below the worker's 1024
    [claim] = record["claims"]
    assert claim["verdict"] == "supported" and claim["evidence"][0]["figure_seen"] == "image"
    [checked] = [r for r in ws.steps() if r.get("type") == "claim_check"]
    assert checked["verdicts"][0]["figure_seen"] == "image"


def test_a_text_only_reviewer_gets_the_recorded_description_and_cannot_quote_it(home, tmp_path) -> None:
    ws, pid = _paper(home, tmp_path)
    _cite_figure(ws, pid)
    folder = paper_dir(ws, pid)
    with ChatServer([], worker_script=[DESCRIPTION, verdicts(("supported", "hottest in the middle, about 0.9"))],
                    accepts_parts=True) as server:
        seeing = _settings(home, server, worker_vision="on")
        figure = next(f for f in ensure(folder)["figures"] if f["number"] == 2)
        describe(folder, figure, build_model(seeing, "worker"))
        settings = _settings(home, server, worker_vision="off", review_rounds=1)
        record = check_answer(ws, settings, build_model(settings, "worker"))
    asked = _worker_requests(server)[1]
    assert _images(asked) == []
    prompt = json.dumps(asked["messages"])
    assert "DESCRIPTION OF THE IMAGE by the model openai/worker" in prompt and DESCRIPTION in prompt
    evidence = record["claims"][0]["evidence"][0]
    assert evidence["figure_seen"] == "description"
    assert evidence["verdict"] == "unverified" and evidence["why"] == f"the quote is not in {pid} Fig. 2"


def test_a_reviewer_that_refuses_the_image_checks_with_the_caption(home, tmp_path) -> None:
    ws, pid = _paper(home, tmp_path)
    _cite_figure(ws, pid)

    def refuse_images(payload: dict) -> int | None:
        return 400 if _images(payload) else None

    with ChatServer([], worker_script=[verdicts(("supported", "A raster heat map of the gadget"))],
                    accepts_parts=True, responder=refuse_images) as server:
        settings = _settings(home, server, worker_vision="on", review_rounds=1)
        record = check_answer(ws, settings, build_model(settings, "worker"))
    assert [len(_images(r)) for r in _worker_requests(server)] == [1, 0]
    evidence = record["claims"][0]["evidence"][0]
    assert evidence["verdict"] == "supported" and evidence["figure_seen"] == "caption"


def test_worker_vision_follows_the_planner_when_they_are_one_model(home) -> None:
    same = {"home": str(home), "model": "openai/gpt-4o"}
    assert accepts_images(load_settings(same), "worker")
    assert not accepts_images(load_settings({**same, "vision": "off"}), "worker")
    assert accepts_images(load_settings({**same, "vision": "off", "worker_vision": "on"}), "worker")
    assert not accepts_images(load_settings({**same, "worker_model": "openai/gpt-3.5-turbo"}), "worker")
    assert accepts_images(load_settings({**same, "model": "openai/gpt-3.5-turbo", "worker_model": "openai/gpt-4o"}),
                          "worker")
    with pytest.raises(ConfigError, match="'worker_vision' must be one of auto, on, off"):
        load_settings({"home": str(home), "worker_vision": "maybe"})


def test_the_papers_text_about_a_figure_is_its_mentions_else_the_text_around_its_caption() -> None:
    figure = {"number": 2, "page": 2, "caption_page": 2, "caption": "Fig. 2. A raster heat map of the gadget."}
    pages = ["Intro. Figure 12 is another one.", "Results first. Fig. 2. A raster heat map of the gadget. Then more."]
    around = nearby_text(pages, figure, "local:ab12")
    assert "p.2, around the caption: Results first. … Then more." in around and "Figure 12" not in around
    pages[0] = "Intro. We see in Fig. 2 that it is hot. Unrelated next sentence."
    assert "p.1: We see in Fig. 2 that it is hot." in nearby_text(pages, figure, "local:ab12")
    assert "Unrelated" not in nearby_text(pages, figure, "local:ab12")
    assert nearby_text(["No caption here."], figure, "local:ab12") == ""
