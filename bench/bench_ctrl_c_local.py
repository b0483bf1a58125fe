"""A first session with a slow local server (llama.cpp-like loopback, 20 tokens/s): a run, Ctrl-C mid-reply,
an immediate resume; timings printed as a transcript. Baseline from the same run: a non-streamed request that
the client abandons, which the server goes on generating (the behaviour before streaming).

    python bench/bench_ctrl_c_local.py [--tokens-per-s 20]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import OFFLINE  # noqa: E402 - the tests' loopback-only endpoints
from support.openai_server import ChatServer  # noqa: E402
from support.scripted import code  # noqa: E402

REPLY = code("print('slow')\n" + "# a long comment line of padding\n" * 60)  # ~500 tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens-per-s", type=float, default=20.0)
    rate = parser.parse_args().tokens_per_s
    t0 = time.monotonic()

    def at(text: str) -> None:
        print(f"[{time.monotonic() - t0:6.2f} s] {text}", flush=True)

    with tempfile.TemporaryDirectory() as tmp, ChatServer([REPLY, code('final_answer("resumed")')],
                                                          tokens_per_s=rate) as server:
        home = Path(tmp) / "ws"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_SCIENTIST_")}
        env.update(OFFLINE)
        env.update(AGENT_SCIENTIST_HOME=str(home), PYTHONUNBUFFERED="1", NO_COLOR="1")
        cmd = [sys.executable, "-m", "agent_scientist", "research", "Does X improve Y?", "--name", "w",
               "--model", "openai/gpt-4o-mini", "--worker-model", "openai/worker", "--api-base", server.url,
               "--quiet"]
        at(f"$ agent-scientist research ... (server streams {rate:g} tokens/s)")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while server.generated < 60:
            time.sleep(0.02)
        at(f"Ctrl-C while step 1's reply streams ({server.generated} tokens so far)")
        sigint = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        exited = time.monotonic()
        while not server.closed_at and time.monotonic() - sigint < 10:
            time.sleep(0.01)
        closed = server.closed_at[0] - sigint if server.closed_at else float("nan")
        at(f"server saw the connection close {closed:.2f} s after Ctrl-C; stopped at {server.generated} tokens")
        at(f"process exited {exited - sigint:.2f} s after Ctrl-C (exit {proc.returncode})")
        at("$ agent-scientist resume w")
        start = time.monotonic()
        resumed = subprocess.run([sys.executable, "-m", "agent_scientist", "resume", "w", "--quiet"], env=env,
                                 capture_output=True, text=True, timeout=300)
        busy = "server busy" in resumed.stderr
        at(f"resume exit {resumed.returncode} after {time.monotonic() - start:.2f} s"
           f"{' (waited: server busy)' if busy else ' (no wait: the server was free)'}")

        # Baseline: the same reply requested without streaming, abandoned after 3 s.
        server.add(REPLY)
        before = server.generated
        body = json.dumps({"model": "x", "messages": [{"role": "user", "content": "hi"}]}).encode()
        request = urllib.request.Request(server.url + "/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        left = time.monotonic()
        threading.Thread(target=lambda: _abandon(request), daemon=True).start()
        time.sleep(3.0)
        at("baseline: a non-streamed request abandoned after 3 s")
        while server.in_flight:
            time.sleep(0.05)
        at(f"baseline: the server went on generating {server.generated - before} tokens, busy "
           f"{time.monotonic() - left:.1f} s for a client that had left")


def _abandon(request: urllib.request.Request) -> None:
    try:
        urllib.request.urlopen(request, timeout=3).read()
    except Exception:
        pass


if __name__ == "__main__":
    main()
