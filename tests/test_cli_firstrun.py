"""The first-run experience, through the CLI as a user types it (issue 17): preflight, home, list, delete."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import cli_env
from support import warm
from support.openai_server import ChatServer
from support.scripted import code

from agent_scientist.records import EMPTY_REPLY
from agent_scientist.workspace import Workspace

MODEL = "openai/gpt-4o-mini"
WORKER = "openai/worker"


def _no_keys(home, **extra):
    env = {k: v for k, v in cli_env(home, **extra).items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    return env


# -- 1. preflight -------------------------------------------------------------
def test_no_key_exits_2_with_the_fix_and_creates_nothing(home, cli):
    result = cli("research", "Does X improve Y?", "--model", MODEL, env=_no_keys(home))
    assert result.returncode == 2, result.stderr
    assert "OPENAI_API_KEY" in result.stderr and "Nothing was created" in result.stderr
    assert list(home.iterdir()) == []


def test_model_without_provider_exits_2_naming_the_forms(home, cli):
    result = cli("research", "Q?", "--model", "gemma", env=_no_keys(home))
    assert result.returncode == 2
    assert "openai/gemma" in result.stderr and "ollama/gemma" in result.stderr
    assert "OPENAI_API_KEY" not in result.stderr  # no provider, so no key to ask for
    assert list(home.iterdir()) == []


def test_unreachable_api_base_exits_2_naming_the_url(home, cli, tmp_path):
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    result = cli("research", "Q?", "--model", "openai/m", "--api-base", "http://127.0.0.1:9/v1",
                 "--papers", str(pdfs))
    assert result.returncode == 2
    assert "http://127.0.0.1:9/v1/models" in result.stderr
    assert list(home.iterdir()) == []


def _silent_server() -> tuple[socket.socket, threading.Event]:
    """Accepts connections and never answers: a port that is open but is no model server."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()
    held = []

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    return sock, stop


def test_api_base_that_accepts_but_does_not_answer_fails_preflight_and_doctor(home, cli):
    sock, stop = _silent_server()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        result = cli("research", "Q?", "--model", "openai/m", "--api-base", url)
        assert result.returncode == 2 and "did not answer within" in result.stderr
        doctor = cli("doctor", env=cli_env(home, AGENT_SCIENTIST_MODEL="openai/m", AGENT_SCIENTIST_API_BASE=url))
        assert doctor.returncode == 1 and "FIX  api base" in doctor.stdout
    finally:
        stop.set()
        sock.close()


class _HangUp(BaseHTTPRequestHandler):
    """Lists its models, then hangs up on every chat request: litellm says only "Connection error."."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        body = b'{"object": "list", "data": []}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        self.close_connection = True


def test_connection_error_in_a_run_names_the_url(home, cli):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _HangUp)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        result = cli("research", "Q?", "--name", "w", "--model", MODEL, "--api-base", url, "--quiet",
                     env=cli_env(home, AGENT_SCIENTIST_MODEL_RETRIES="0"))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"endpoint: {url}" in result.stderr and "agent-scientist resume w" in result.stderr


def _steps(home):
    try:
        return Workspace.open(home, "w").steps()
    except Exception:
        return []


def test_delete_asks_then_deletes_and_yes_skips_the_question(home, cli):
    assert cli("init", "a").returncode == 0 and cli("init", "b").returncode == 0
    kept = cli("delete", "a", input="n\n")
    assert kept.returncode == 1 and (home / "a" / "workspace.json").exists()
    gone = cli("delete", "a", input="y\n")
    assert gone.returncode == 0 and not (home / "a").exists() and "Deleted" in gone.stdout
    assert cli("delete", "b", "--yes").returncode == 0 and not (home / "b").exists()
    assert cli("delete", "b", "--yes").returncode == 2


# -- 2. the home ----------------------------------------------------------------
def _no_home(home, data):
    env = {k: v for k, v in cli_env(home).items() if k != "AGENT_SCIENTIST_HOME"}
    env["XDG_DATA_HOME"] = str(data)
    return env


def test_default_home_does_not_move_with_the_shell(home, tmp_path):
    data = tmp_path / "data"
    expected = data / "agent-scientist" / "workspaces"
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    env = _no_home(home, data)

    def run(cwd, *args):
        return warm.run([sys.executable, "-m", "agent_scientist", *args], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=120)

    made = run(here, "init", "ws1")
    assert made.returncode == 0 and str(expected / "ws1") in made.stdout
    listed = run(there, "list")
    assert f"Workspaces in {expected}" in listed.stdout and "ws1" in listed.stdout
    # The old default keeps working: a ./workspaces folder in the current directory is used as it is.
    (there / "workspaces").mkdir()
    legacy = run(there, "list")
    assert f"No workspaces in {there / 'workspaces'}" in legacy.stdout
    assert not any(p.name == "workspaces" for p in here.iterdir())  # nothing was created or moved


def test_doctor_creates_no_workspaces_folder(home, tmp_path):
    env = _no_home(home, tmp_path / "data")
    env["AGENT_SCIENTIST_MODEL"] = "foo/bar"
    cwd = tmp_path / "fresh"
    cwd.mkdir()
    result = warm.run([sys.executable, "-m", "agent_scientist", "doctor"], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "FIX  model: 'foo/bar' names no provider" in result.stdout
    assert "FIX  arXiv" in result.stdout  # the test's arXiv is a closed port
    assert "will be created on first use" in result.stdout
    assert list(cwd.iterdir()) == [] and not (tmp_path / "data").exists()


# -- 7. list ----------------------------------------------------------------------
LONG = "how-does-dropout-affect-calibration-in-small-networks"
QUESTION = ("How does dropout affect the calibration of small networks trained on tabular data "
            "with label noise and class imbalance?")


def test_list_never_cuts_names_keeps_questions_on_one_line_and_says_why_runs_stopped(home, cli):
    for name in (LONG, LONG + "-2"):
        assert cli("init", name, "--question", QUESTION).returncode == 0
    ws = Workspace.open(home, LONG + "-2")
    ws.update(status="interrupted", stop_reason="max_steps")
    Workspace.open(home, LONG).update(status="failed", stop_reason="APIConnectionError: Connection error.")
    for columns in ("80", "160"):
        out = cli("list", env=cli_env(home, COLUMNS=columns)).stdout
        lines = out.splitlines()
        assert lines[0] == f"Workspaces in {home}"
        assert any(line.split()[0] == LONG for line in lines[1:])
        assert any(line.split()[0] == LONG + "-2" for line in lines[1:])
        assert all(len(line) <= int(columns) for line in lines[1:])
        assert sum("How does dropout" in line for line in lines) == 2  # one line each
        assert "stopped: max steps" in out and "failed: APIConnectionError" in out
    data = json.loads(cli("list", "--json").stdout)
    assert {d["stopped"] for d in data} == {"stopped: max steps", "failed: APIConnectionError: Connection error."}


def test_an_empty_reply_is_a_step_error_the_model_is_told_about(home, cli):
    env = {**cli_env(home), "AGENT_SCIENTIST_SYSTEM_PROMPT": "system"}
    with ChatServer(["", code('final_answer("ok")')]) as server:
        result = cli("research", "Does X improve Y?", "--name", "w", "--model", MODEL, "--worker-model", WORKER,
                     "--api-base", server.url, "--quiet", env=env)
        planner = [r for r in server.requests if r.get("model") != "worker"]
    assert result.returncode == 0, result.stderr
    assert "step 1 | error | " in result.stdout and "Your reply had no code to run" in result.stdout
    step1 = next(r for r in Workspace.open(home, "w").steps() if r.get("step") == 1)
    assert step1["model_output"] == "" and step1["error"] == EMPTY_REPLY
    assert EMPTY_REPLY in json.dumps(planner[1]["messages"])  # the next prompt tells the model
    assert Workspace.open(home, "w").status == "completed"


def test_empty_replies_in_a_row_end_the_run_as_unparseable_ones_do(home, cli):
    env = {**cli_env(home), "AGENT_SCIENTIST_SYSTEM_PROMPT": "system", "AGENT_SCIENTIST_MAX_PARSE_ERRORS": "2"}
    with ChatServer(["", "<code>\n# only a comment\n</code>", code('final_answer("never")')]) as server:
        result = cli("research", "Does X improve Y?", "--name", "w", "--model", MODEL, "--worker-model", WORKER,
                     "--api-base", server.url, "--quiet", env=env)
    assert result.returncode == 1
    ws = Workspace.open(home, "w")
    assert (ws.status, ws.meta["steps"]) == ("failed", 2) and "without runnable code" in ws.meta["stop_reason"]


def test_a_step_panel_shows_the_models_text_once():
    import io

    from rich.console import Console

    from agent_scientist.agent.progress import Progress

    out = io.StringIO()
    progress = Progress(console=Console(file=out, force_terminal=True, width=120, color_system=None))
    error = ("Error in code parsing:\nYour code snippet is invalid, because the regex pattern <code>(.*?)</code> "
             f"was not found in it.\nHere is your code snippet:\n{PROSE}\nMake sure to provide correct code blobs.")
    progress.step({"type": "action", "step": 1, "model_output": PROSE, "error": error, "duration_s": 1.0},
                  {"tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0})
    shown = " ".join(out.getvalue().replace("│", " ").split())
    assert shown.count("I think the answer is that X improves Y") == 1
    assert "the model wrote no code block" in shown and "model wrote: I think" in shown


def test_list_says_ctrl_c_and_killed(home, cli):
    cli("init", "a")
    cli("init", "b")
    Workspace.open(home, "a").update(status="interrupted", stop_reason="interrupted")
    Workspace.open(home, "b").update(status="running")  # no process holds it
    out = cli("list").stdout
    assert "interrupted: Ctrl-C" in out and "killed" in out


# -- 5 and 6. the live view, show, export, the partial report ---------------------------
PROSE = "I think the answer is that X improves Y, but I will not write any code for it."


def test_parse_errors_are_shown_with_the_models_text_a_hint_and_a_partial_report(home, cli):
    # system_prompt = system: this test is about the warnings; the automatic switch is tested in test_model_streaming
    env = {**cli_env(home), "AGENT_SCIENTIST_SYSTEM_PROMPT": "system"}
    with ChatServer([PROSE, PROSE, PROSE], prompt_tokens=22) as server:
        result = cli("research", "Does X improve Y?", "--name", "w", "--model", MODEL, "--worker-model", WORKER,
                     "--api-base", server.url, "--quiet", "--max-steps", "3", env=env)
        shown = cli("show", "w")
        exported = cli("export", "w", "--format", "json", "--output", "-")
    assert result.returncode == 0, result.stderr
    out, err = result.stdout, result.stderr
    assert "step 1 | error | " in out and "step tok in 22 / out " in out and "run tok in " in out
    assert "model wrote: I think the answer is that X improves Y" in out
    assert err.count("steps in a row without a code block") == 1 and "stronger model" in err
    assert err.count("the server reported 22 prompt tokens") == 1
    assert "3 planner steps this run" in out
    report = (home / "w" / "report.md").read_text()
    assert "Partial report" in report and "all 3 steps failed: the model wrote no code block" in report
    assert "Report (partial):" in out
    assert f"Models: planner {MODEL}, worker {WORKER} · endpoint {server.url}" in shown.stdout
    assert "{" not in shown.stdout.split("Models:")[1].splitlines()[0]  # text, not a Python dict
    assert json.loads(exported.stdout)["steps"]["count"] == 3


def test_thinking_line_counts_seconds_and_tries_in_a_terminal(home):
    """In a real terminal (a pty) the spinner line says how long the call has run and which try it is."""
    import os
    import pty
    import select
    import time

    hold = threading.Event()
    with ChatServer([500, hold, code('final_answer("done")')]) as server:
        master, slave = pty.openpty()
        env = cli_env(home, COLUMNS="200", TERM="xterm")
        env.pop("NO_COLOR", None)
        proc = warm.Popen(
            [sys.executable, "-m", "agent_scientist", "research", "Q?", "--name", "w", "--model", MODEL,
             "--worker-model", WORKER, "--api-base", server.url], stdin=subprocess.DEVNULL, stdout=slave,
            stderr=slave, env=env, cwd=home.parent)
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + 150
        try:
            while time.monotonic() < deadline and b"try 2" not in seen:
                if select.select([master], [], [], 0.5)[0]:
                    try:
                        seen += os.read(master, 65536)
                    except OSError:
                        break
            hold.set()
            while proc.poll() is None and time.monotonic() < deadline:
                if select.select([master], [], [], 0.5)[0]:
                    try:
                        seen += os.read(master, 65536)
                    except OSError:
                        break
        finally:
            hold.set()
            proc.wait(60)
            os.close(master)
    text = seen.decode(errors="replace")
    assert "Step 1: thinking…" in text and "s in this model call" in text
    assert "try 2" in text
    assert proc.returncode == 0


# -- 3. PDF titles, authors, printed ids --------------------------------------------
def test_papers_add_skips_the_arxiv_stamp_and_links_the_paper_offline(home, cli, tmp_path):
    from support.pdfs import ARXIV_STAMP, AUTHORS, TITLE, make_stamped_paper

    pdf = tmp_path / "1111.2011.pdf"
    pdf.write_bytes(make_stamped_paper(doi="10.1103/PhysRevB.85.123456"))
    added = cli("papers", "add", str(pdf), "--name", "lib")  # offline: the test's arXiv is a closed port
    assert added.returncode == 0, added.stderr
    assert TITLE in added.stdout and f"by {AUTHORS}" in added.stdout and ARXIV_STAMP not in added.stdout
    assert "linked to arXiv:1111.2011v2 (arXiv unreachable" in added.stdout
    listed = json.loads(cli("papers", "list", "--name", "lib", "--json").stdout)
    assert len(listed) == 1  # one paper: its local id, the arXiv id recorded on it (issue 25)
    local = listed[0]
    assert local["source"] == "local" and local["id"].startswith("local:")
    assert local["title"] == TITLE and local["authors"] == ["Ada Lovelace", "Alan Turing"]
    assert local["arxiv_id"] == "1111.2011v2" and local["doi"] == "10.1103/physrevb.85.123456"  # normal form (ids)
    assert local["abstract"].startswith("We show that sparse widgets")
    read = cli("papers", "read", "1111.2011", "--name", "lib")  # no download: the library holds it
    assert read.returncode == 0, read.stderr
    assert TITLE in read.stdout and "arXiv: 1111.2011v2" in read.stdout
    assert f"agent-scientist papers read {local['id']} --page N --name lib" in read.stdout
    assert "read_paper(" not in read.stdout
    again = cli("papers", "add", str(pdf), "--name", "lib")
    assert "0 added, 1 already present" in again.stdout


def test_papers_add_takes_metadata_from_arxiv_when_it_answers(home, cli, tmp_path):
    from support.arxiv_server import ArxivServer, entry
    from support.pdfs import make_stamped_paper

    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(make_stamped_paper(title_in_outline=True))
    server = ArxivServer([entry("1111.2011v2", "Spin Liquids on the Kagome Lattice",
                                authors=("R. Feynman", "M. Curie"))]).start()
    try:
        added = cli("papers", "add", str(pdf), "--name", "lib", env=cli_env(home, **server.env()))
        read = cli("papers", "read", "1111.2011", "--name", "lib", env=cli_env(home, **server.env()))
        assert server.count("pdf") == 0  # the cached PDF is used instead of a download
    finally:
        server.stop()
    assert added.returncode == 0, added.stderr
    assert "Spin Liquids on the Kagome Lattice" in added.stdout and "by R. Feynman, M. Curie" in added.stdout
    assert "(metadata from arXiv)" in added.stdout
    assert read.returncode == 0 and "Spin Liquids" in read.stdout


def test_pdf_title_trust_order_metadata_outline_then_largest_text():
    import pymupdf
    from support.pdfs import TITLE, make_stamped_paper

    from agent_scientist.papers.pdf import extract

    assert extract(make_stamped_paper()).title == TITLE  # largest text, the bigger stamp skipped
    doc = pymupdf.open(stream=make_stamped_paper(title_in_outline=True), filetype="pdf")
    doc.set_toc([[1, "The Title From The Outline", 1], [1, "1 Introduction", 1]])
    assert extract(doc.tobytes()).title == "The Title From The Outline"
    doc.set_metadata({"title": "The Title From The Metadata"})
    assert extract(doc.tobytes()).title == "The Title From The Metadata"
    doc.set_metadata({"title": "arXiv:1111.2011v2 [cond-mat.str-el] 2 Apr 2012"})
    assert extract(doc.tobytes()).title == "The Title From The Outline"


# -- 4. one convention for the workspace, CLI phrasing, unknown ids --------------------------
def test_papers_and_memory_take_name_and_keep_the_old_form_with_a_note(home, cli, tmp_path):
    from support.pdfs import make_plain

    pdf = tmp_path / "notes.pdf"
    pdf.write_bytes(make_plain("Dropout lowers calibration error on small tabular sets.", title="Dropout notes"))
    new = cli("papers", "add", str(pdf), "--name", "lib")
    assert new.returncode == 0 and "old form" not in new.stderr
    old = cli("papers", "list", "lib")
    assert old.returncode == 0 and "Dropout notes" in old.stdout
    assert "write: agent-scientist papers list --name lib" in old.stderr
    bare = cli("papers", "add", str(pdf))
    assert bare.returncode == 2 and "--name NAME" in bare.stderr
    local_id = json.loads(cli("papers", "list", "--name", "lib", "--json").stdout)[0]["id"]
    read = cli("papers", "read", local_id, "--page", "1")  # no --name: found in workspace lib
    assert read.returncode == 1
    assert f"Workspace lib holds it: agent-scientist papers read {local_id} --page 1 --name lib" in read.stderr
    assert "read_paper(" not in read.stderr

    assert cli("memory", "add", "Dropout 0.1 lowers ECE", "--name", "lib").returncode == 0
    old_add = cli("memory", "add", "lib", "A second note about widgets")
    assert old_add.returncode == 0 and "write: agent-scientist memory add TEXT --name lib" in old_add.stderr
    found = cli("memory", "search", "dropout calibration", "--name", "lib", "--results", "1", "--json")
    assert found.returncode == 0 and len(json.loads(found.stdout)) == 1
    notes = tmp_path / "n.jsonl"
    notes.write_text('{"text": "one"}\n{"text": "two"}\n')
    first = cli("memory", "import", str(notes), "--name", "lib")
    assert "Imported 2 note(s) into lib." in first.stdout
    second = cli("memory", "import", "lib", str(notes))  # the old form too
    assert "Imported 0 note(s) into lib (2 already there)." in second.stdout


def test_offline_search_lists_the_local_matches(home, cli, tmp_path):
    from support.pdfs import make_plain

    pdf = tmp_path / "d.pdf"
    pdf.write_bytes(make_plain("Text.", title="Dropout and calibration of small networks"))
    cli("papers", "add", str(pdf), "--name", "lib")
    result = cli("papers", "search", "dropout calibration", "--name", "lib", "--json")
    assert result.returncode == 0, result.stderr
    assert [r["title"] for r in json.loads(result.stdout)] == ["Dropout and calibration of small networks"]
    assert "online sources could not be reached" in result.stderr
    nothing = cli("papers", "search", "quasars", "--name", "lib")
    assert nothing.returncode == 1


# -- 8. the smaller things ------------------------------------------------------------------
def test_help_version_and_examples(home, cli):
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("agent-scientist ")
    for args in (["research"], ["resume"], ["papers", "add"], ["memory", "search"], ["export"], ["delete"]):
        text = cli(*args, "--help").stdout
        assert "<bool>" not in text and "Example" in text, args
    assert "--results" in cli("memory", "search", "--help").stdout
    usage = [cli(*a, "--help").stdout for a in (["research"], ["show"], ["papers", "read"], ["init"])]
    assert "{QUESTION}" in usage[0] and "{NAME}" in usage[1] and "{ID}" in usage[2] and "{NAME}" in usage[3]
    budget = cli("research", "--help").stdout + cli("resume", "--help").stdout
    assert budget.count("the workspace has cost") == 2


def test_init_twice_and_research_with_another_question(home, cli):
    assert cli("init", "ws", "--question", "Q1?").returncode == 0
    again = cli("init", "ws")
    assert again.returncode == 2 and "Choose another NAME" in again.stderr and "--name" not in again.stderr
    other = cli("research", "Q2?", "--name", "ws", "--model", "openai/m", "--api-base", "http://127.0.0.1:9/v1")
    assert other.returncode == 2 and "another question: 'Q1?'" in other.stderr
    assert Workspace.open(home, "ws").question == "Q1?"


def test_files_follow_the_umask_and_unpriced_budget_warns(home, cli):
    with ChatServer([code('final_answer("done")')]) as server:
        args = ["research", "Q?", "--name", "w", "--model", "openai/my-local-model", "--worker-model", WORKER,
                "--api-base", server.url, "--quiet", "--budget-usd", "1"]
        result = subprocess.run([sys.executable, "-c", "import os, runpy, sys; os.umask(0o022); "
                                 "sys.argv = ['agent-scientist', *sys.argv[1:]]; "
                                 "runpy.run_module('agent_scientist', run_name='__main__')", *args],
                                env=cli_env(home), cwd=home.parent, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "openai/my-local-model has no known price" in result.stderr and "PRICE_PER_MTOK" in result.stderr
    for name in ("workspace.json", "report.md", "steps.jsonl"):
        assert (home / "w" / name).stat().st_mode & 0o777 == 0o644, name


def test_price_per_mtok_prices_an_unknown_model(home, cli):
    with ChatServer([code('final_answer("done")')]) as server:
        result = cli("research", "Q?", "--name", "w", "--model", "openai/my-local-model", "--worker-model",
                     WORKER, "--api-base", server.url, "--quiet", "--budget-usd", "1",
                     env=cli_env(home, AGENT_SCIENTIST_PRICE_PER_MTOK="2"))
    assert result.returncode == 0, result.stderr
    assert "no known price" not in result.stderr
    assert Workspace.open(home, "w").meta["cost_usd"] > 0
