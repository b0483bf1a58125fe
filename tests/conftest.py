"""Shared fixtures: an isolated workspace home, settings, and a CLI runner in a subprocess (forked warm)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

# The session's own cache folder (the compiled embedding model), made before the warm runner records the session's
# environment and inherited by xdist workers: nothing is written to, or read from, the user's ~/.cache.
CACHE_PREFIX = "agent-scientist-test-cache-"
_OWN_CACHE = ""
if not Path(os.environ.get("XDG_CACHE_HOME", "/")).name.startswith(CACHE_PREFIX):
    _OWN_CACHE = os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix=CACHE_PREFIX)

import pytest  # noqa: E402
from support import warm  # noqa: E402

from agent_scientist.config import load_settings  # noqa: E402

# No test may reach the network: unless a test starts its own loopback server, arXiv is a closed port.
OFFLINE = {
    "AGENT_SCIENTIST_ARXIV_API_URL": "http://127.0.0.1:9/api/query",
    "AGENT_SCIENTIST_ARXIV_PDF_URL": "http://127.0.0.1:9/pdf/{id}",
    "AGENT_SCIENTIST_ARXIV_DELAY": "0",
    "AGENT_SCIENTIST_PAPER_SOURCES": "arxiv",  # tests of the other sources name them and start their servers
    "AGENT_SCIENTIST_SEMANTIC_SCHOLAR_API_URL": "http://127.0.0.1:9",
    "AGENT_SCIENTIST_SEMANTIC_SCHOLAR_DELAY": "0",
    "AGENT_SCIENTIST_OPENALEX_API_URL": "http://127.0.0.1:9",
    # A provider's default endpoint (where litellm goes without --api-base): a closed loopback port.
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "ANTHROPIC_API_BASE": "http://127.0.0.1:9",
    "AGENT_SCIENTIST_PUBMED_API_URL": "http://127.0.0.1:9",
    "AGENT_SCIENTIST_CROSSREF_API_URL": "http://127.0.0.1:9",
    # The answer review sends the planner back to revise; tests of other features script one answer.
    # The review's own tests turn it on (tests/test_review*.py).
    "AGENT_SCIENTIST_REVIEW_ROUNDS": "0",
    # The scripted chat server reports a fixed, small prompt size, which the automatic switch reads as a template
    # that drops the system message; its own tests (tests/test_model_streaming.py) ask for auto.
    "AGENT_SCIENTIST_SYSTEM_PROMPT": "system",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_sandbox(available, what): a sandbox protection the test needs")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_CACHE:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


# Under pytest-xdist each worker has its own warm process; the workers' counts are summed here.
_WORKER_CALLS: Counter[str] = Counter()


def pytest_sessionfinish(session: pytest.Session) -> None:
    warm.WARM.stop()
    output = getattr(session.config, "workeroutput", None)  # set on an xdist worker only
    if output is not None:
        output["warm_calls"] = dict(warm.WARM.calls)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """An xdist worker finished: add its CLI call counts to the session's."""
    _WORKER_CALLS.update(getattr(node, "workeroutput", {}).get("warm_calls", {}))


def pytest_terminal_summary(terminalreporter) -> None:
    """How many CLI calls ran warm, and why the others ran cold (a whole session gone cold shows here)."""
    calls = warm.WARM.calls + _WORKER_CALLS
    if calls:
        cold = ", ".join(f"{n} because {why}" for why, n in calls.most_common() if why != "warm")
        terminalreporter.write_line(f"CLI calls: {calls['warm']} warm" + (f", cold: {cold}" if cold else ""))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """needs_sandbox(False, what) skips, or fails under AGENT_SCIENTIST_REQUIRE_SANDBOX=1 (CI)."""
    for mark in item.iter_markers("needs_sandbox"):
        if not mark.args[0]:
            from support.lab import missing

            missing(mark.args[1])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workspace home; also the working directory, so no stray config file is read."""
    h = tmp_path / "workspaces"
    h.mkdir()
    monkeypatch.setenv("AGENT_SCIENTIST_HOME", str(h))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    for var in ("AGENT_SCIENTIST_MODEL", "AGENT_SCIENTIST_WORKER_MODEL", "AGENT_SCIENTIST_API_BASE",
                "AGENT_SCIENTIST_MEMORY_URL"):
        monkeypatch.delenv(var, raising=False)
    for var, value in OFFLINE.items():
        monkeypatch.setenv(var, value)
    return h


@pytest.fixture
def settings(home: Path):
    return load_settings({"home": str(home)})


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_SCIENTIST_")}
    env.update(OFFLINE)
    env.update({"AGENT_SCIENTIST_HOME": str(home), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "120"})
    env.update(extra)
    return env


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run `python -m agent_scientist ARGS` in a new process, as a user would (forked warm: support/warm.py)."""
    return warm.run(
        [sys.executable, "-m", "agent_scientist", *args],
        capture_output=True, text=True, timeout=timeout, env=env or cli_env(home), input=input,
        cwd=home.parent,
    )


@pytest.fixture
def cli(home: Path):
    def _run(*args: str, env: dict[str, str] | None = None, **kw):
        return run_cli(home, *args, env=env, **kw)
    return _run


@pytest.fixture(scope="module")
def catalogue() -> list[dict]:
    """Known arXiv papers (see support.arxiv_server.standard_catalogue); override in a module to change."""
    from support.arxiv_server import standard_catalogue

    return standard_catalogue()


@pytest.fixture
def arxiv(catalogue):
    """A loopback arXiv API and PDF server serving `catalogue`."""
    from support.arxiv_server import ArxivServer

    server = ArxivServer(catalogue).start()
    yield server
    server.stop()
