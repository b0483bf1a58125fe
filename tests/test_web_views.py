"""The web view's parts without a browser, through the real app in-process: quotes found on real PDF pages
(across a line-end hyphen), a figure citation opening its caption's page, raw HTML kept inert, the memory search
giving recall's answer, experiments' figures served, and the Host names a loopback bind accepts."""

from __future__ import annotations

import pymupdf
import pytest
from support.pdfs import FIGURE_CAPTION, make_paper

from agent_scientist.config import is_loopback, load_settings
from agent_scientist.papers.layout import paper_dir
from agent_scientist.papers.pdf import extract
from agent_scientist.papers.store import store_paper
from agent_scientist.web import pages
from agent_scientist.web.render import report_html
from agent_scientist.web.security import allowed_hosts
from agent_scientist.workspace import Workspace

TOKEN = "test-token"
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")  # starlette's TestClient on httpx 0.x


@pytest.fixture
def client(home):
    from starlette.testclient import TestClient

    from agent_scientist.web.app import Config, create_app

    c = TestClient(create_app(Config(load_settings({"home": str(home)}), TOKEN)), base_url="http://127.0.0.1:8000")
    c.cookies.set("agent_scientist_token", TOKEN)
    return c


def _pdf_paper(ws: Workspace, pid: str, data: bytes) -> None:
    store_paper(ws, {"id": pid, "title": "A paper", "authors": ["Ada Lovelace"], "source": "arxiv"}, data, extract(data))


def test_a_quote_across_a_line_end_hyphen_is_boxed_word_by_word(home):
    ws = Workspace.create(home, "w", "q")
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 100), ["Before that, the expected cali-", "bration error falls to 2.1% here."],
                     fontsize=11, fontname="helv")
    _pdf_paper(ws, "2401.01234v1", doc.tobytes())
    folder = paper_dir(ws, "2401.01234v1")
    found = pages.find_quote(folder, 1, "the expected calibration error falls to 2.1%")
    assert found is not None and len(found.boxes) == 8  # the expected cali- bration error falls to 2.1%
    assert found.text == "the expected calibration error falls to 2.1%"
    assert found.boxes[3][1] > found.boxes[0][1]  # the second line's words sit lower
    assert pages.find_quote(folder, 1, "words not on the page").boxes == []
    text = "Before that, the expected cali-\nbration error falls to 2.1% here."
    before, quoted, after = pages.mark_text(text, "the expected calibration error falls to 2.1%")
    assert before == "Before that, " and quoted.endswith("2.1") and after.startswith("% here")
    image = pages.page_image(folder, 1)
    assert image == folder / "pages" / "1.png" and image.read_bytes()[:4] == b"\x89PNG"
    stamp = image.stat().st_mtime_ns
    assert pages.page_image(folder, 1).stat().st_mtime_ns == stamp  # rendered once


def test_a_figure_citation_opens_the_page_of_its_caption(home, client):
    ws = Workspace.create(home, "w", "q")
    _pdf_paper(ws, "2401.00001v2", make_paper(4))
    response = client.get("/ws/page?name=w&paper=2401.00001v2&fig=1")
    assert response.status_code == 200
    assert "page 3 of 4" in response.text and FIGURE_CAPTION in response.text
    assert '<g id="highlight" data-text="Figure 1: Accuracy of sparse widgets versus model size.">' in response.text
    png = client.get("/ws/page.png?name=w&paper=2401.00001v2&page=3")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert client.get("/ws/page.png?name=w&paper=2401.00001v2&page=9").status_code == 404


def test_a_cited_figure_opens_its_crop_and_a_cited_table_its_grid(home, client):
    from support.web_ws import visual_workspace

    from agent_scientist.papers import visuals

    pid = visual_workspace(home)
    folder = paper_dir(Workspace.open(home, "v"), pid)
    assert visuals.cached(folder) is None  # nothing extracted until a page asks
    report = client.get("/ws?name=v").text  # the report writes "1, Fig. 1" and "1, Table 1": both open the visual
    quoted = pid.replace(":", "%3A")
    assert f'href="/ws/page?name=v&amp;paper={quoted}&amp;fig=1" class="cite">1, Fig. 1<' in report
    assert f'href="/ws/page?name=v&amp;paper={quoted}&amp;tab=3" class="cite">1, Table 3<' in report
    figure = client.get(f"/ws/page?name=v&paper={pid}&fig=1").text
    crop = f"/ws/file?name=v&amp;path=papers%2F{folder.name}%2Ffigure-1.png"
    assert f'<img src="{crop}" alt="Figure 1: Loss curve of the efficient widget." id="figure-image">' in figure
    assert '<figcaption id="visual-caption">Figure 1: Loss curve of the efficient widget.</figcaption>' in figure
    assert "page 1 of" in figure and 'id="page-image"' in figure  # the page is still beside it
    png = client.get(crop.replace("&amp;", "&"))
    assert png.status_code == 200 and png.content == (folder / "figure-1.png").read_bytes()
    assert visuals.cached(folder) is not None  # extracted once, kept in the paper's folder
    moved = client.get(f"/ws/page?name=v&paper={pid}&fig=3").text  # drawn on p.2, its caption on p.3
    assert "Figure 3 · p.2 (caption on p.3)" in moved and "page 3 of" in moved
    table = client.get(f"/ws/page?name=v&paper={pid}&tab=3").text
    grid = table.split('<table class="grid" id="visual-table">')[1].split("</table>")[0]
    assert '<tr><th>Model</th><th colspan="2">Accuracy</th></tr>' in grid  # the spanning header spans
    assert "<tr><td>Alpha</td><td>71.20</td><td>90.05</td></tr>" in grid
    assert "Table 3: Results with a spanning header." in grid
    missing = client.get(f"/ws/page?name=v&paper={pid}&tab=7")
    assert missing.status_code == 404  # no caption, no table: no page to show
    absent = client.get(f"/ws/page?name=v&paper={pid}&page=2&tab=7").text
    assert "Table 7 was not found among the tables and figures extracted" in absent
    overview = client.get(f"/ws/paper?name=v&paper={pid}").text
    assert f'<a href="/ws/page?name=v&amp;paper={quoted}&amp;tab=1">Table 1:' in overview


def test_raw_html_in_the_markdown_stays_text():
    markdown = ('<script>alert(1)</script>\n\nA claim <img src=x onerror="alert(2)"> [1, p.2](#ref-1) [✓](#claim-1).\n\n'
                '- <a id="claim-1"></a>ok [x](javascript:alert(3))\n')
    html = report_html(markdown, "w", {1: "2401.01234v2"}, {1: {"n": 1, "verdict": "supported", "quote": "q"}})
    assert "<script" not in html and "<img" not in html and "href=\"javascript" not in html
    assert "&lt;script&gt;" in html
    assert '<a id="claim-1"></a>' in html
    assert 'href="/ws/page?name=w&amp;paper=2401.01234v2&amp;page=2&amp;claim=1" class="cite"' in html


def test_the_memory_search_gives_what_recall_gives(home, client, settings):
    from agent_scientist.memory import open_memory

    ws = Workspace.create(home, "w", "q")
    store = open_memory(ws, settings)
    store.add_notes([{"text": "Label smoothing lowers calibration error.", "kind": "finding"},
                     {"text": "The cafeteria opens at nine.", "kind": "finding"}])
    expected = [r["text"] for r in store.recall("calibration", 20)]
    response = client.get("/ws/memory?name=w&q=calibration")
    assert response.status_code == 200
    shown = response.text.split('id="hits"')[1].split("</ol>")[0]
    assert [t for t in expected if t in shown] == expected
    assert shown.index(expected[0]) < shown.index(expected[-1])


def test_experiments_show_their_figures_and_files_are_never_run(home, client):
    ws = Workspace.create(home, "w", "q")
    doc = pymupdf.open()
    doc.new_page(width=100, height=80)
    (ws.files_dir / "plot.png").write_bytes(doc[0].get_pixmap().tobytes("png"))
    (ws.files_dir / "page.html").write_text("<script>alert(1)</script>")
    ws.append_run({"run": 1, "script": "exp.py", "args": "", "exit_code": 0, "duration_s": 1.0,
                   "metrics": {"ece": 0.031}, "artifacts": ["plot.png", "page.html"], "output_dir": "runs/1"})
    page = client.get("/ws?name=w").text
    assert '<img class="figure" src="/ws/file?name=w&amp;path=files%2Fplot.png"' in page and "&#34;ece&#34;: 0.031" in page
    assert client.get("/ws/file?name=w&path=files/plot.png").headers["content-type"] == "image/png"
    served = client.get("/ws/file?name=w&path=files/page.html")
    assert served.headers["content-type"].startswith("text/plain")
    assert served.headers["content-security-policy"].startswith("default-src 'self'")


def test_the_call_in_flight_is_shown_only_while_its_process_holds_the_workspace(home, client):
    import json
    import os
    import time

    ws = Workspace.create(home, "w", "q")
    begun = time.time() - 12
    record = {"v": 1, "pid": os.getpid(), "updated_at": time.time(),
              "calls": [{"role": "worker", "model": "openai/worker", "started_at": begun, "attempt": 2, "tries": 3,
                         "tokens": 1234}]}
    ws.inflight_path.write_text(json.dumps(record))
    assert 'id="inflight"' in client.get("/ws?name=w").text
    assert "p class=\"inflight\"" not in client.get("/ws?name=w").text  # nobody holds it: a killed run's file
    with ws.lock():
        ws.update(status="running")
        page = client.get("/ws?name=w").text
        shown = page.split('<div id="inflight" aria-live="polite">')[1].split("</div>")[0]
        assert '<p class="inflight" data-role="worker">' in shown and "<code>openai/worker</code>" in shown
        assert f"since {time.strftime('%H:%M:%S', time.localtime(begun))}" in shown
        assert '<span class="tokens">1,234</span> tokens streamed' in shown and "try 2 of 3" in shown
        ws.inflight_path.write_text(json.dumps({**record, "pid": 999999}))  # another process's
        assert "p class=\"inflight\"" not in client.get("/ws?name=w").text


def test_loopback_spellings_and_the_hosts_a_bind_accepts():
    for host in ("localhost", "127.0.0.1", "127.1", "127.0.0.2", "0x7f.1", "::1", "[::1]", "LOCALHOST."):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "example.com", "10.0.0.1", "::", "127.0.0.1.example.com"):
        assert not is_loopback(host), host
    assert allowed_hosts("127.0.0.1", 8000) == {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"}
    assert allowed_hosts("192.168.1.5", 8000) == {"192.168.1.5:8000"}
    assert allowed_hosts("0.0.0.0", 8000) is None  # only the token protects a wildcard bind


def test_lock_holder_is_the_pid_the_run_recorded(home):
    import os

    ws = Workspace.create(home, "w", "q")
    assert ws.lock_holder() is None
    with ws.lock():
        assert ws.lock_holder() == os.getpid()
    assert ws.lock_holder() is None
