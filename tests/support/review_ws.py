"""Workspaces with papers whose pages hold real text, for the claim-check tests and the benchmark."""

from __future__ import annotations

import json
from pathlib import Path

from agent_scientist.fsio import atomic_write_json
from agent_scientist.papers.layout import paper_dir
from agent_scientist.workspace import Workspace
from support.report_ws import add_paper

PAGES = {
    "2401.01234v2": [
        "Introduction. We study dropout and the calibration of small networks.",
        "Results. On CIFAR-10 the expected cali-\nbration error falls from 4.5% to 2.1% with a dropout rate of 0.1.",
        "Discussion. Dropout does not help on ImageNet, where the error stays at 3.9%.",
    ],
    "2312.00001v1": [
        "Label smoothing improves top-1 accuracy to 76.4% on ImageNet with a ResNet-50.",
    ],
}


def add_text_paper(ws: Workspace, paper_id: str, pages: list[str], title: str = "A Paper") -> None:
    add_paper(ws, paper_id, title, ["Ada Lovelace"], 2024, pages=len(pages))
    atomic_write_json(paper_dir(ws, paper_id) / "pages.json", {"pages": pages, "outline": [], "captions": []})


def papers_workspace(home: Path, name: str = "w", question: str = "Does dropout improve calibration?") -> Workspace:
    ws = Workspace.create(home, name, question)
    for paper_id, pages in PAGES.items():
        add_text_paper(ws, paper_id, pages)
    return ws


def verdicts(*entries: tuple[str, str]) -> str:
    """A reviewer reply: one (verdict, quote) per item, in order."""
    return json.dumps({"verdicts": [{"item": n, "verdict": v, "quote": q}
                                    for n, (v, q) in enumerate(entries, start=1)]})
