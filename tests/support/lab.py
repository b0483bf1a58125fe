"""Helpers for sandbox tests: a workspace context with chosen settings, process lookups, agent drivers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from agent_scientist.config import load_settings
from agent_scientist.contracts import ToolContext
from agent_scientist.workspace import Workspace

REQUIRE_SANDBOX = os.environ.get("AGENT_SCIENTIST_REQUIRE_SANDBOX") == "1"


def missing(protection: str) -> None:
    """A protection this test needs is missing here: skip, or fail where CI requires the full sandbox."""
    if REQUIRE_SANDBOX:
        pytest.fail(f"{protection} is missing but AGENT_SCIENTIST_REQUIRE_SANDBOX=1: detection regressed?")
    pytest.skip(f"{protection} is not available on this machine")


def lab(home: Path, **overrides) -> ToolContext:
    """A ToolContext on workspace 'lab' in `home`, with sandbox settings overridden."""
    settings = load_settings({"home": str(home), **overrides})
    return ToolContext(ws=Workspace.open_or_create(home, "lab"), settings=settings, step=7)


def script(ctx: ToolContext, name: str, code: str) -> str:
    path = ctx.ws.files_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    return name


def token() -> str:
    return f"astest-{uuid.uuid4().hex[:12]}"


def procs_with(marker: str) -> list[int]:
    """Host pids of live (non-zombie) processes whose command line contains `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
            with open(f"/proc/{entry}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state not in "ZX":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


def ancestors(pid: int) -> list[int]:
    """Host pids from `pid` up to (not including) this test process."""
    chain = []
    while pid not in (0, 1, os.getpid()):
        chain.append(pid)
        with open(f"/proc/{pid}/stat") as fh:
            pid = int(fh.read().rsplit(")", 1)[1].split()[1])
    return chain


LEAK_DRIVER = """
import sys
from pathlib import Path
from support.lab import lab, script
from agent_scientist.experiments.runner import run_script
ctx = lab(Path(sys.argv[1]))
script(ctx, "peek.py", '''
import glob
for path in glob.glob("/proc/*/environ"):
    try:
        if b"sk-agent" in open(path, "rb").read():
            print("LEAK", path)
    except OSError:
        pass
print("scanned")
''')
print(run_script(ctx, "peek.py", timeout=60, namespaces=sys.argv[2] == "1")["stdout"])
"""


DRIVER = """
import sys
from pathlib import Path
from support.lab import lab
from agent_scientist.experiments.runner import run_script
ctx = lab(Path(sys.argv[1]))
try:
    run_script(ctx, "forever.py", args=sys.argv[2], timeout=600, namespaces=sys.argv[3] == "1")
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def start_driver(home: Path, ns: bool, grandchild: bool) -> tuple[subprocess.Popen, list[int], str]:
    """An agent process running an endless experiment; returns it with the experiment's host pids."""
    ctx, mark = lab(home), token()
    script(ctx, "forever.py", f"""
        import subprocess, sys, time
        if {grandchild}:
            subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(0.1)", sys.argv[1]])
        open("started", "w").write("yes")
        while True:
            time.sleep(0.1)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(home), mark, "1" if ns else "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not (ctx.ws.files_dir / "started").exists() or len(procs_with(mark)) < 1 + grandchild:
        if time.monotonic() > deadline or driver.poll() is not None:
            driver.kill()
            pytest.fail(f"experiment did not start: {driver.communicate()[1]}")
        time.sleep(0.05)
    return driver, procs_with(mark), mark
