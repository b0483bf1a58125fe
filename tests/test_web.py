"""`agent-scientist serve` in a real headless Chromium: the token, a workspace made by a scripted research run,
a citation opened on its page with the quote highlighted, a run in progress adding steps without a reload,
start and stop from the page with --allow-runs, and the refusals (path traversal, a foreign Host)."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from pathlib import Path

import pytest
from conftest import OFFLINE, cli_env
from support.browser import Served, chrome
from support.openai_server import ChatServer
from support.scripted import code
from support.web_ws import MODEL, PAPER, QUOTE, WORKER, cited_workspace, visual_workspace
from test_cli_run import _wait_for

from agent_scientist.workspace import Workspace


@pytest.fixture(scope="module")
def web_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("web") / "workspaces"
    home.mkdir()
    cited_workspace(home, "w")
    return home


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = cli_env(home, **extra)
    env.update({k: v for k, v in OFFLINE.items() if k not in extra})
    return env


@pytest.fixture(scope="module")
def served(web_home: Path):
    server = Served(_env(web_home), web_home.parent)
    yield server
    server.stop()


@pytest.fixture
def browser(tmp_path: Path):
    driver = chrome(tmp_path / "profile")
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, predicate, timeout: float = 60.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: predicate(d))


def _get(served: Served, path: str, host: str | None = None, cookie: bool = True, method: str = "GET",
         body: str = "") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    headers = {"Host": host or f"127.0.0.1:{served.port}"}
    if cookie:
        headers["Cookie"] = f"agent_scientist_token={served.token}"
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body or None, headers=headers)
    response = conn.getresponse()
    text = response.read().decode(errors="replace")
    conn.close()
    return response.status, text


def test_the_home_needs_the_token(served, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(served.base + "/")
    assert "Refused: no token" in browser.find_element(By.TAG_NAME, "body").text
    status, _ = _get(served, "/", cookie=False)
    assert status == 403
    browser.get(served.base + "/?token=wrong")
    assert "wrong token" in browser.find_element(By.TAG_NAME, "body").text
    browser.get(served.url)
    assert browser.current_url == served.base + "/"  # the token moved into the cookie
    rows = browser.find_elements(By.CSS_SELECTOR, "#workspaces tbody tr")
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == ["w"]
    assert "completed" in rows[0].text and "Does label smoothing improve calibration?" in rows[0].text
    assert browser.find_elements(By.ID, "start") == []  # read-only: no run buttons
    assert "--allow-runs" in browser.find_element(By.CLASS_NAME, "hint").text
    browser.save_screenshot(str(tmp_path / "home.png"))


def test_a_citation_opens_its_page_with_the_quote_highlighted(web_home, served, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(served.url)
    browser.find_element(By.LINK_TEXT, "w").click()
    verdict = browser.find_element(By.CSS_SELECTOR, "a.verdict")
    assert verdict.text == "✓" and QUOTE in verdict.get_attribute("title")
    steps = browser.find_elements(By.CSS_SELECTOR, "#steps details.step")
    assert steps and not any(s.get_attribute("open") for s in steps)  # collapsed by default
    browser.save_screenshot(str(tmp_path / "workspace.png"))
    cite = browser.find_element(By.CSS_SELECTOR, "#report a.cite")
    assert cite.text == "1, p.2"
    cite.click()
    _wait(browser, lambda d: d.execute_script(
        "var i = document.getElementById('page-image'); return i && i.complete && i.naturalWidth > 0;"))
    assert browser.execute_script("return document.getElementById('page-image').naturalWidth") > 500
    highlight = browser.find_element(By.ID, "highlight")
    assert highlight.get_attribute("data-text") == QUOTE
    boxes = browser.find_elements(By.CSS_SELECTOR, "#highlight rect")
    assert len(boxes) == len(QUOTE.split())  # one box per word of the quote, drawn over the image
    assert all(b.size["width"] > 0 for b in boxes)
    assert browser.find_element(By.ID, "mark").text == QUOTE
    assert "supported" in browser.find_element(By.ID, "evidence").text
    assert browser.find_element(By.ID, "prev").get_attribute("href").endswith("page=1")
    browser.save_screenshot(str(tmp_path / "page.png"))
    if os.environ.get("AGENT_SCIENTIST_SCREENSHOTS"):  # how docs/serve-citation.png is made
        browser.save_screenshot(os.environ["AGENT_SCIENTIST_SCREENSHOTS"] + "/serve-citation.png")
    folder = next((web_home / "w" / "papers").glob("2401.01234v2*"))
    assert (folder / "pages" / "2.png").is_file()  # rendered once, kept in the paper's folder
    browser.find_element(By.LINK_TEXT, "the paper").click()
    assert PAPER in browser.find_element(By.TAG_NAME, "body").text


def test_a_figure_citation_opens_the_cropped_figure_and_a_table_citation_its_grid(tmp_path, browser):
    from selenium.webdriver.common.by import By

    home = tmp_path / "workspaces"
    home.mkdir()
    visual_workspace(home, "v")
    server = Served(_env(home), tmp_path)
    try:
        browser.get(server.url)
        browser.get(server.base + "/ws?name=v")
        cites = {c.text: c for c in browser.find_elements(By.CSS_SELECTOR, "#report a.cite") if "," in c.text}
        assert sorted(cites) == ["1, Fig. 1", "1, Table 1", "1, Table 3"]  # located: not the paper's overview
        cites["1, Fig. 1"].click()
        _wait(browser, lambda d: d.execute_script(
            "var i = document.getElementById('figure-image'); return i && i.complete && i.naturalWidth > 0;"))
        size = browser.execute_script("var i = document.getElementById('figure-image');"
                                      "return [i.naturalWidth, i.naturalHeight];")
        assert size[0] > 300 and size[0] > size[1]  # the crop, wider than tall, not a whole portrait page
        assert browser.find_element(By.ID, "visual-caption").text == "Figure 1: Loss curve of the efficient widget."
        assert browser.find_element(By.CSS_SELECTOR, "#visual h2").text == "Figure 1 · p.1"
        _wait(browser, lambda d: d.execute_script(
            "var i = document.getElementById('page-image'); return i && i.complete && i.naturalWidth > 0;"))
        browser.save_screenshot(str(tmp_path / "figure.png"))
        browser.back()
        browser.find_element(By.LINK_TEXT, "1, Table 3").click()
        table = _wait(browser, lambda d: d.find_element(By.ID, "visual-table"))
        rows = [[c.text for c in r.find_elements(By.CSS_SELECTOR, "th, td")]
                for r in table.find_elements(By.TAG_NAME, "tr")]
        assert rows == [["Model", "Accuracy"], ["", "Top1", "Top5"], ["Alpha", "71.20", "90.05"],
                        ["Beta", "-0.30", "88.00"]]
        header = table.find_element(By.XPATH, ".//th[text()='Accuracy']")
        assert header.get_attribute("colspan") == "2" and header.size["width"] > table.find_element(
            By.XPATH, ".//th[text()='Top1']").size["width"]  # drawn across both columns
        assert "Results with a spanning header" in browser.find_element(By.ID, "visual-caption").text
        browser.save_screenshot(str(tmp_path / "table.png"))
    finally:
        server.stop()


def test_a_run_in_progress_adds_steps_without_a_reload(web_home, served, browser, tmp_path):
    from selenium.webdriver.common.by import By

    hold = threading.Event()
    second = code("print('second step')\n" + "# a padding line of the streamed reply\n" * 6)  # ~70 tokens
    with ChatServer([code("print('first step')"), hold, second, code('final_answer("done")')],
                    tokens_per_s=8) as chat:
        proc = _spawn_research(web_home, chat, "live")
        try:
            _wait_for(lambda: chat.held == 1)  # step 1 is on disk; the model call of step 2 waits
            browser.get(served.url)
            browser.get(served.base + "/ws?name=live")
            status = browser.find_element(By.ID, "status")
            assert status.text == "running, step 2"
            call = browser.find_element(By.CSS_SELECTOR, "#inflight p.inflight")  # the model call in flight
            assert call.get_attribute("data-role") == "planner"
            assert f"planner model {MODEL}: request in flight since" in call.text
            assert "waiting for the first token" in call.text
            first = int(call.find_element(By.CLASS_NAME, "elapsed").text.split()[0])
            _wait(browser, lambda d: int(d.find_element(By.CSS_SELECTOR, "#inflight .elapsed").text.split()[0]) > first)
            browser.execute_script("window.__same_page = 42;")
            before = len(browser.find_elements(By.CSS_SELECTOR, "#steps details.step"))
            hold.set()
            tokens = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#inflight .tokens"))
            assert int(tokens[0].text.replace(",", "")) > 0  # the tokens streamed so far, sent over the stream
            browser.save_screenshot(str(tmp_path / "inflight.png"))
            _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#steps details.step")) >= before + 2)
            _wait(browser, lambda d: d.find_element(By.ID, "status").text == "completed")
            assert browser.execute_script("return window.__same_page") == 42  # never reloaded
            assert "reload for its report" in browser.find_element(By.ID, "ended").text
            _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#steps .step-title")[-1].text.startswith("Run ended"))
            titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#steps .step-title")]
            assert titles.count("Step 2") == 1 and titles.count("Step 3") == 1  # each step once
            _wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#inflight p"))  # no call in flight
            browser.save_screenshot(str(tmp_path / "live.png"))
        finally:
            hold.set()
            proc.communicate(timeout=120)


def _spawn_research(home: Path, chat: ChatServer, name: str):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "agent_scientist", "research", "Does live work?", "--name", name,
                             "--model", MODEL, "--worker-model", WORKER, "--api-base", chat.url, "--quiet"],
                            env=_env(home), cwd=home.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_start_and_stop_a_run_from_the_page_with_allow_runs(web_home, served, browser, tmp_path):
    from selenium.webdriver.common.by import By

    status, text = _get(served, "/run/start", method="POST", body="question=x")
    assert status == 403 and "--allow-runs" in text  # the read-only server refuses
    browser.get(served.url)
    browser.get(served.base + "/ws?name=w")
    assert browser.find_elements(By.ID, "stop") == [] and browser.find_elements(By.ID, "resume") == []

    hold = threading.Event()
    with ChatServer([hold, code('final_answer("too late")')]) as chat:
        env = _env(web_home, AGENT_SCIENTIST_MODEL=MODEL, AGENT_SCIENTIST_WORKER_MODEL=WORKER,
                   AGENT_SCIENTIST_API_BASE=chat.url)
        runner = Served(env, web_home.parent, "--allow-runs")
        try:
            status, text = _get(runner, "/run/start", method="POST", body="question=x&csrf=wrong", cookie=True)
            assert status == 403 and "CSRF" in text
            browser.get(runner.url)
            browser.find_element(By.ID, "question").send_keys("Does stopping work?")
            browser.find_element(By.ID, "start").click()
            _wait(browser, lambda d: "/ws?name=does-stopping-work" in d.current_url)
            _wait_for(lambda: chat.held == 1)  # the run's first model call is in flight
            ws = Workspace.open(web_home, "does-stopping-work")
            assert ws.lock_holder() is not None
            browser.refresh()
            _wait(browser, lambda d: d.find_element(By.ID, "status").text.startswith("running"))
            browser.save_screenshot(str(tmp_path / "running.png"))
            browser.find_element(By.ID, "stop").click()
            _wait_for(lambda: Workspace.open(web_home, "does-stopping-work").live_status == "interrupted", 60)
            _wait_for(lambda: not ws.is_locked(), 60)
            browser.refresh()
            assert browser.find_element(By.ID, "status").text == "interrupted"
            assert browser.find_elements(By.ID, "resume") and not browser.find_elements(By.ID, "stop")
            log = ws.root / "serve.log"  # the run's own output, as a terminal would have shown it
            _wait_for(lambda: "Interrupted. Continue with: agent-scientist resume does-stopping-work" in log.read_text())
            assert "$ agent-scientist research Does stopping work? --name does-stopping-work" in log.read_text()

            hold.set()
            browser.find_element(By.NAME, "instruction").send_keys("Finish it.")
            browser.find_element(By.ID, "resume").click()
            _wait_for(lambda: Workspace.open(web_home, "does-stopping-work").live_status == "completed", 120)
            assert "$ agent-scientist resume does-stopping-work --quiet --instruction Finish it." in log.read_text()
            steps = Workspace.open(web_home, "does-stopping-work").steps()
            assert any(s.get("type") == "run_start" and s.get("instruction") == "Finish it." for s in steps)
        finally:
            hold.set()
            runner.stop()


def test_path_traversal_and_a_foreign_host_are_refused(web_home, served):
    outside = web_home.parent / "secret.txt"
    outside.write_text("not for the browser")
    files = web_home / "w" / "files"
    (files / "plot.txt").write_text("a result")
    (files / "link.txt").symlink_to(outside)
    assert _get(served, "/ws/file?name=w&path=files/plot.txt") == (200, "a result")
    for path in ("../secret.txt", "files/../../secret.txt", "files/link.txt", "/etc/passwd", "files/%2e%2e/%2e%2e/secret.txt"):
        status, text = _get(served, f"/ws/file?name=w&path={path}")
        assert status == 403 and "not for the browser" not in text, (path, status, text)
    status, _ = _get(served, "/ws/file?name=w&path=files")
    assert status == 404  # a folder is not listed
    for path in ("/ws?name=../w", "/ws?name=..%2Fsecret.txt", "/static/..%2F..%2Fsecret.txt", "/static/"):
        status, text = _get(served, path)
        assert status in (403, 404) and "not for the browser" not in text, (path, status)
    for host in ("evil.example", f"evil.example:{served.port}", "127.0.0.1:1"):
        status, text = _get(served, "/", host=host)
        assert status == 403 and "Host" in text, host
    for host in (f"localhost:{served.port}", f"[::1]:{served.port}"):
        assert _get(served, "/", host=host)[0] == 200
    status, _ = _get(served, "/ws/events?name=w", host="evil.example")
    assert status == 403


def test_the_home_lists_evals_and_an_eval_page_compares(web_home, served):
    from agent_scientist.evals.summary import summarize

    for name, correct in (("base", True), ("other", False)):
        folder = web_home / "evals" / name
        folder.mkdir(parents=True)
        results = [{"id": "q1", "kind": "mc", "correct": correct, "answered": True, "status": "completed",
                    "workspace": "w", "steps": 2, "cost_usd": 0.001}]
        (folder / "results.jsonl").write_text(json.dumps(results[0]) + "\n")
        (folder / "summary.json").write_text(json.dumps(summarize(results, 1, {"name": name})))
    status, text = _get(served, "/")
    assert status == 200 and 'href="/eval?name=base"' in text and "100.0%" in text
    status, text = _get(served, "/eval?name=base")
    assert status == 200 and 'href="/ws?name=w"' in text and "accuracy" in text
    status, text = _get(served, "/eval/compare?a=base&b=other")
    assert status == 200 and "-100.0 pts" in text
    assert _get(served, "/eval?name=../base")[0] == 404


def test_a_non_loopback_host_warns_that_the_token_is_the_only_protection(web_home):
    server = Served(_env(web_home), web_home.parent, "--host", "0.0.0.0")
    try:
        time.sleep(0.2)
    finally:
        server.stop()
    err = server.proc.stderr.read()  # type: ignore[union-attr]
    assert "not loopback" in err and "The token is the only protection" in err
