"""Ray executor figures: a do-nothing run through Ray against the local sandbox, and 8 runs of a
2-second script with run_experiments on Ray against the same 8 one after another (local executor).

Run: python bench/bench_ray.py [repeats] [cpus]. Needs the ray extra; starts its own Ray head on
127.0.0.1 (in a temporary folder) and stops it at the end.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.ray_cluster import RayHead  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_workbench import median_ms  # noqa: E402  (its warm-up call also warms the Ray worker)

from agent_scientist.config import load_settings  # noqa: E402
from agent_scientist.contracts import ToolContext  # noqa: E402
from agent_scientist.experiments.runner import run_many, run_script  # noqa: E402
from agent_scientist.workspace import Workspace  # noqa: E402


def main(repeats: int = 10, cpus: int = 8) -> None:
    head = RayHead(num_cpus=cpus)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "workspaces"
            local = ToolContext(ws=Workspace.create(home, "local"), settings=load_settings({"home": str(home)}))
            remote = ToolContext(ws=Workspace.create(home, "ray"), settings=load_settings(
                {"home": str(home), "executor": "ray", "ray_address": head.address}))
            for ctx in (local, remote):
                (ctx.ws.files_dir / "noop.py").write_text("pass\n")
                (ctx.ws.files_dir / "two.py").write_text("import time\ntime.sleep(2)\n")
            base = median_ms(lambda: run_script(local, "noop.py", timeout=60), repeats)
            ray_ms = median_ms(lambda: run_script(remote, "noop.py", timeout=60), repeats)
            print(f"do-nothing script, median of {repeats} runs (Ray head on 127.0.0.1, {cpus} logical CPUs)")
            print(f"  run_experiment, local sandbox:      {base:7.1f} ms")
            print(f"  run_experiment, Ray executor:       {ray_ms:7.1f} ms  added {ray_ms - base:6.1f} ms")
            runs = [{"script": "two.py", "timeout": 60}] * 8
            start = time.perf_counter()
            run_many(local, runs)
            serial = time.perf_counter() - start
            run_many(remote, runs)  # warm-up: eight Ray workers started
            start = time.perf_counter()
            run_many(remote, runs)
            parallel = time.perf_counter() - start
            print("8 runs of a 2-second script")
            print(f"  one after another (local executor): {serial:6.1f} s")
            print(f"  run_experiments on Ray:             {parallel:6.1f} s  speed-up {serial / parallel:4.2f}x")
    finally:
        head.stop()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
