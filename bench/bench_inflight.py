"""What recording the model call in flight (agent/models.CallLog, <workspace>/inflight.json) costs a call.

Per call: the start and end writes (an atomic replace, then the removal), against the same-run baseline of
one plain append to steps.jsonl (what every step already costs). Per streamed token: the throttled progress
check (a write at most once a second), against a bare time.monotonic() call. At 50 tokens/s a 2,000-token
reply makes about 40 progress writes.

Usage: python bench/bench_inflight.py [--repeat 200] [--tokens 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from agent_scientist.agent.models import CallLog, CallState
from agent_scientist.fsio import append_jsonl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_workbench import median_ms  # noqa: E402  (one warm-up call, then the median of N)


def main(repeat: int, tokens: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = CallLog(Path(tmp) / "inflight.json")
        state = CallState("planner", "openai/gpt-4o-mini", 4096, 600.0, 1800.0, time.monotonic(), tries=3)

        def call() -> None:
            log.start(state)
            log.end(state)

        steps = Path(tmp) / "steps.jsonl"
        record = {"type": "action", "step": 1, "code": "print(1)", "observation": "x" * 400, "tokens_in": 900}
        pair = median_ms(call, repeat)
        append = median_ms(lambda: append_jsonl(steps, record), repeat)
        log.start(state)
        start = time.perf_counter()
        for n in range(tokens):
            state.tokens = n
            log.progress(state)
        per_token = (time.perf_counter() - start) / tokens * 1e9
        start = time.perf_counter()
        for _ in range(tokens):
            time.monotonic()
        bare = (time.perf_counter() - start) / tokens * 1e9
        log.end(state)
    print(f"start + end writes of one call: {pair:.2f} ms (median of {repeat}); "
          f"one steps.jsonl append: {append:.2f} ms ({pair / append:.1f}x)")
    print(f"progress check per streamed token: {per_token:.0f} ns; a bare time.monotonic(): {bare:.0f} ns "
          f"(writes at most once a second)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=100_000)
    args = parser.parse_args()
    main(args.repeat, args.tokens)
