"""A workspace made by a scripted research run through the CLI, with a real cited PDF from the loopback arXiv and
its claim checked by the (scripted) reviewer: what the web view's tests and bench_serve open."""

from __future__ import annotations

from pathlib import Path

from conftest import cli_env, run_cli

from support.arxiv_server import ArxivServer, entry
from support.openai_server import ChatServer
from support.pdfs import make_plain, make_visual_paper
from support.review_ws import verdicts
from support.scripted import code

PAPER = "2401.01234v2"
QUOTE = "label smoothing lowers the expected calibration error on CIFAR-10"
PAGE_TEXT = (
    "Results. We trained small residual networks on CIFAR-10 for forty epochs. In our experiments "
    f"{QUOTE} from 4.5% to 2.1%, while top-1 accuracy stays within 0.2 points. The effect holds for every "
    "seed we tried and for both optimisers."
)
ANSWER = "Label smoothing improves calibration: it lowers the expected calibration error on CIFAR-10 [arXiv:2401.01234 p.2]."
MODEL, WORKER = "openai/gpt-4o-mini", "openai/worker"


def cited_workspace(home: Path, name: str = "w") -> None:
    """research → read_paper → a cited final answer → the review finds the quote on page 2 → report.md."""
    pdf = make_plain("Introduction. We study label smoothing and calibration.", pages=1)
    import pymupdf

    doc = pymupdf.open(stream=pdf, filetype="pdf")
    page = doc.new_page()
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 720), PAGE_TEXT, fontsize=11, fontname="helv")
    pdf = doc.tobytes()
    arxiv = ArxivServer([entry(PAPER, "Label smoothing and calibration", published="2024-01-03", pdf=pdf)]).start()
    script = [
        code("print(read_paper('2401.01234', page=2))", "I read the results page."),
        code(f"final_answer({ANSWER!r})", "I can answer."),
    ]
    env = cli_env(home, **arxiv.env(), AGENT_SCIENTIST_REVIEW_ROUNDS="1")
    try:
        with ChatServer(script, worker_script=[verdicts(("supported", QUOTE))]) as server:
            result = run_cli(home, "research", "Does label smoothing improve calibration?", "--name", name,
                             "--model", MODEL, "--worker-model", WORKER, "--api-base", server.url, "--quiet",
                             env=env, timeout=300)
    finally:
        arxiv.stop()
    assert result.returncode == 0, result.stdout + result.stderr


def visual_workspace(home: Path, name: str = "v") -> str:
    """A workspace whose answer cites a figure and tables of a real PDF (support/pdfs.make_visual_paper); the
    paper's id. Its tables and figures are not extracted yet: the page that opens one extracts them."""
    from agent_scientist.config import load_settings
    from agent_scientist.papers.tool import ingest_pdfs
    from agent_scientist.workspace import Workspace

    ws = Workspace.create(home, name, "Which method is most accurate?")
    path = home.parent / f"{name}-visual.pdf"
    path.write_bytes(make_visual_paper())
    (added,) = ingest_pdfs(ws, load_settings({"home": str(home)}), [path])
    pid = added["id"]
    ws.append_step({"type": "action", "step": 1, "tokens_in": 10, "tokens_out": 5,
                    "final_answer": f"Sparse is the most accurate at 12.05 [{pid} tab.1]. The loss of the efficient "
                                    f"widget flattens [{pid} fig.1]. Top-5 accuracy stays near 90 [{pid} tab.3]."})
    ws.update(status="completed")
    return pid
