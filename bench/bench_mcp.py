"""MCP benchmark: the start-up one stdio MCP server adds to `research`, and one search_papers call through
our MCP server against a direct call.

Run: python bench/bench_mcp.py. (1) Time from `loop.run` to the planner's first model call, with no MCP
server and with the small stdio server of tests/support/mcp_server.py, alternating, median of ROUNDS.
(2) search_papers against a loopback arXiv (a new query each time, `quasars N`, so each call reaches the server):
called directly, and through `agent-scientist mcp` over stdio with the official client (session already
open), median of CALLS.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import anyio  # noqa: E402
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from smolagents.models import ChatMessage, MessageRole, Model  # noqa: E402

from agent_scientist.agent import loop  # noqa: E402
from agent_scientist.config import load_settings  # noqa: E402
from agent_scientist.mcp.client import McpServersCapability  # noqa: E402
from agent_scientist.papers.tool import PapersCapability, search  # noqa: E402
from agent_scientist.workspace import Workspace  # noqa: E402

ROUNDS = 5
CALLS = 20
SERVER = {"name": "labdb", "command": sys.executable, "args": [str(ROOT / "tests" / "support" / "mcp_server.py")]}


class FirstCall(Model):
    """Answers at once and notes when it was first asked."""

    def __init__(self) -> None:
        super().__init__(model_id="scripted/bench")
        self.first: float | None = None

    def generate(self, messages, stop_sequences=None, **kwargs):
        self.first = self.first or time.perf_counter()
        return ChatMessage(role=MessageRole.ASSISTANT, content='Thought: done.\n<code>\nfinal_answer("ok")\n</code>')


def bare_start() -> float:
    """The same server started by the plain SDK client: spawn, initialize, tools/list, close."""
    params = StdioServerParameters(command=SERVER["command"], args=SERVER["args"])

    async def main() -> float:
        began = time.perf_counter()
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await session.list_tools()
            return time.perf_counter() - began

    return anyio.run(main)


def startup(home: Path, n: int, servers: list[dict]) -> float:
    ws = Workspace.create(home, f"run{n}", "Q?")
    settings = load_settings({"home": str(home), "model": "scripted/bench", "quiet": True},
                             env={"AGENT_SCIENTIST_MCP_SERVERS": json.dumps(servers)})
    model = FirstCall()
    began = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        loop.run(ws, settings, model=model, worker_model=model,
                 capabilities=[PapersCapability(), McpServersCapability()])
    return model.first - began


ARXIV_PROCESS = """
import time
from support.arxiv_server import ArxivServer, standard_catalogue
server = ArxivServer(standard_catalogue()).start()
print(server.base, flush=True)
while True:
    time.sleep(60)
"""


def search_latency(home: Path, base: str) -> tuple[list[float], list[float]]:
    api_url, pdf_url = f"{base}/api/query", f"{base}/pdf/{{id}}"
    settings = load_settings({"home": str(home), "arxiv_api_url": api_url, "arxiv_pdf_url": pdf_url,
                              "arxiv_delay": 0})
    ws = Workspace.open_or_create(home, "direct")
    search(ws, settings, "quasars")
    direct = []
    for i in range(1, CALLS + 1):
        began = time.perf_counter()
        search(ws, settings, f"quasars {i}")
        direct.append(time.perf_counter() - began)

    env = {"AGENT_SCIENTIST_HOME": str(home), "AGENT_SCIENTIST_ARXIV_API_URL": api_url,
           "AGENT_SCIENTIST_ARXIV_PDF_URL": pdf_url, "AGENT_SCIENTIST_ARXIV_DELAY": "0"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "agent_scientist", "mcp", "--workspace",
                                                                 "served"], env=env, cwd=str(home))
    served: list[float] = []

    async def main() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await session.call_tool("search_papers", {"query": "quasars"})
            for i in range(1, CALLS + 1):
                began = time.perf_counter()
                result = await session.call_tool("search_papers", {"query": f"quasars {i}"})
                served.append(time.perf_counter() - began)
                assert not result.isError, result

    anyio.run(main)
    return direct, served


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        without, with_one, bare = [], [], []
        for n in range(ROUNDS):
            without.append(startup(home, 2 * n, []))
            with_one.append(startup(home, 2 * n + 1, [SERVER]))
            bare.append(bare_start())
        a, b, c = statistics.median(without), statistics.median(with_one), statistics.median(bare)
        print(f"research start-up to the first model call, no MCP server:     {a * 1e3:8.0f} ms (median of {ROUNDS})")
        print(f"research start-up to the first model call, one stdio server:  {b * 1e3:8.0f} ms")
        print(f"added by one stdio MCP server:                                {(b - a) * 1e3:8.0f} ms")
        print(f"the same server started by the plain SDK client (baseline):   {c * 1e3:8.0f} ms "
              f"(spawn, its imports, initialize, tools/list)")

        # The loopback arXiv runs in its own process, so that neither path shares a GIL with it.
        arxiv = subprocess.Popen([sys.executable, "-c", ARXIV_PROCESS], stdout=subprocess.PIPE, text=True,
                                 cwd=ROOT / "tests")
        try:
            direct, served = search_latency(home, arxiv.stdout.readline().strip())
        finally:
            arxiv.terminate()
            arxiv.wait()
        d, s = statistics.median(direct), statistics.median(served)
        print(f"search_papers on loopback arXiv, direct call:        median {d * 1e3:6.1f} ms, "
              f"p95 {sorted(direct)[int(0.95 * CALLS) - 1] * 1e3:6.1f} ms ({CALLS} calls)")
        print(f"search_papers through our MCP server (stdio client): median {s * 1e3:6.1f} ms, "
              f"p95 {sorted(served)[int(0.95 * CALLS) - 1] * 1e3:6.1f} ms ({(s - d) * 1e3:+.1f} ms)")


if __name__ == "__main__":
    main()
