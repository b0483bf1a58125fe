"""`serve` speed, server side: the home page over 100 workspaces (target < 300 ms) and a workspace's report page
(target < 500 ms), each request run through the app in-process (no browser, no socket), median of N.

Baselines from the same run: for the home, reading the same 100 workspace.json files as `list` does; for the
report page, the plain `export` markdown render of the same workspace (what the page renders, then turns to HTML
with the timeline, experiments and papers).

Usage: python bench/bench_serve.py [--workspaces 100] [--repeat 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from agent_scientist.config import load_settings
from agent_scientist.fsio import atomic_write_json
from agent_scientist.papers.layout import paper_dir
from agent_scientist.records import answer_hash
from agent_scientist.report import render
from agent_scientist.workspace import Workspace, list_names

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_workbench import median_ms  # noqa: E402  (one warm-up call, then the median of N)

SENTENCE = "On CIFAR-10 the expected calibration error falls from 4.5% to 2.1% with a dropout rate of {n}."


def make_home(root: Path, count: int) -> Path:
    home = root / "workspaces"
    for i in range(count):
        ws = Workspace.create(home, f"ws-{i:03d}", f"Does method {i} improve calibration on benchmark {i % 7}?")
        for step in range(1, 21):
            ws.append_step({"type": "action", "step": step, "code": f"print({step})", "observation": "x" * 400,
                            "tokens_in": 900, "tokens_out": 80, "cost_usd": 0.0004, "duration_s": 1.5})
        ws.update(status="completed")
    return home


def make_report_workspace(home: Path) -> Workspace:
    """10 papers of 12 pages with PDFs, an answer of 30 cited claims, its review, 60 steps, 5 experiments."""
    import pymupdf

    ws = Workspace.create(home, "report", "Does dropout improve calibration?")
    claims, sentences = [], []
    for p in range(10):
        pid = f"2401.{p:05d}v1"
        pages = [SENTENCE.format(n=f"0.{p}{n}") + " Filler text of the page." * 20 for n in range(12)]
        folder = paper_dir(ws, pid)
        folder.mkdir(parents=True)
        doc = pymupdf.open()
        for text in pages:
            doc.new_page().insert_textbox(pymupdf.Rect(72, 72, 540, 720), text, fontsize=10)
        (folder / "paper.pdf").write_bytes(doc.tobytes())
        atomic_write_json(folder / "pages.json", {"pages": pages, "outline": [], "captions": []})
        atomic_write_json(folder / "meta.json", {"id": pid, "title": f"Paper {p}", "authors": ["Ada Lovelace"],
                                                 "source": "arxiv", "file": "paper.pdf", "pages": 12})
    text = ""
    for n in range(30):
        pid, page = f"2401.{n % 10:05d}v1", n % 12 + 1
        sentence = f"Claim {n} holds for dropout [arXiv:{pid} p.{page}]."
        start = len(text)
        text += sentence + " "
        sentences.append(sentence)
        claims.append({"n": n + 1, "text": sentence, "start": start, "end": start + len(sentence),
                       "verdict": "supported", "quote": SENTENCE.format(n=f"0.{n % 10}{page - 1}"),
                       "paper_id": pid, "pages": [page, page], "reviewer": "worker", "citations": [pid]})
    answer = text.strip()
    for step in range(1, 61):
        ws.append_step({"type": "action", "step": step, "code": "print(read_paper('2401.00001', page=2))",
                        "observation": "y" * 1500, "tokens_in": 3000, "tokens_out": 200, "duration_s": 3.0,
                        **({"final_answer": answer} if step == 60 else {})})
    ws.append_step({"type": "review", "answer_step": 60, "answer_sha": answer_hash(answer), "reviewer": "worker",
                    "claims": claims, "counts": {"supported": 30}, "round": 1, "by": "run"})
    for run in range(1, 6):
        ws.append_run({"run": run, "script": "exp.py", "args": "", "exit_code": 0, "duration_s": 2.0,
                       "metrics": {"ece": 0.02 * run}, "artifacts": [], "output_dir": f"runs/{run}"})
    ws.update(status="completed")
    return ws


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    import warnings

    warnings.filterwarnings("ignore", "Using `httpx`")  # starlette's TestClient on httpx 0.x
    from starlette.testclient import TestClient

    from agent_scientist.web.app import Config, create_app

    with tempfile.TemporaryDirectory() as tmp:
        home = make_home(Path(tmp), args.workspaces)
        make_report_workspace(home)
        settings = load_settings({"home": str(home)})
        token = "bench-token"
        client = TestClient(create_app(Config(settings, token)), base_url="http://127.0.0.1:8000")
        client.cookies.set("agent_scientist_token", token)

        def get(path: str) -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])

        def list_baseline() -> None:
            for name in list_names(home):
                Workspace.open(home, name).live_status  # noqa: B018 - what `list` reads

        shown = client.get("/ws?name=report").text  # what is timed is the whole page: check it is all there
        assert shown.count('class="cite"') >= 60 and shown.count('class="verdict') == 30, "report page incomplete"
        home_ms = median_ms(lambda: get("/"), args.repeat)
        list_ms = median_ms(list_baseline, args.repeat)
        page_ms = median_ms(lambda: get("/ws?name=report"), args.repeat)
        export_ms = median_ms(lambda: render(Workspace.open(home, "report"), [], "markdown"), args.repeat)
        cited_first = time.perf_counter()
        get("/ws/page.png?name=report&paper=2401.00003v1&page=4")
        png_first_ms = (time.perf_counter() - cited_first) * 1000
        png_ms = median_ms(lambda: get("/ws/page.png?name=report&paper=2401.00003v1&page=4"), args.repeat)
        cite_ms = median_ms(lambda: get("/ws/page?name=report&paper=2401.00003v1&page=4&claim=4"), args.repeat)
    workspaces = args.workspaces + 1
    print(f"home, {workspaces} workspaces: {home_ms:.1f} ms (target < 300); baseline reading their "
          f"workspace.json as `list` does: {list_ms:.1f} ms ({home_ms / list_ms:.1f}x)")
    print(f"report page (30 claims, 10 papers, 61 steps): {page_ms:.1f} ms (target < 500); baseline `export` "
          f"markdown render of it: {export_ms:.1f} ms ({page_ms / export_ms:.1f}x)")
    print(f"cited page with its highlight: {cite_ms:.1f} ms; page image first render {png_first_ms:.1f} ms, "
          f"then from the paper's folder {png_ms:.1f} ms")


if __name__ == "__main__":
    main()
