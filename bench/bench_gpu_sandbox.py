"""GPU through the sandbox: torch.cuda.is_available() and a bf16 8192³ matmul, bare and via run_script.

Run on a machine with an NVIDIA GPU: python bench/bench_gpu_sandbox.py [/path/to/python-with-torch].
Prints issue 10's table (bare, sandbox defaults, sandbox_memory_mb=0, sandbox_gpus=none) from one run.
"""

from __future__ import annotations

import glob
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from agent_scientist.config import load_settings
from agent_scientist.contracts import ToolContext
from agent_scientist.experiments.runner import run_script
from agent_scientist.workspace import Workspace

MATMUL = """
import json, time, torch
ok = torch.cuda.is_available()
flops = 0.0
if ok:
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(5):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(50):
        a @ b
    torch.cuda.synchronize()
    flops = 50 * 2 * 8192 ** 3 / (time.perf_counter() - start) / 1e12
print(json.dumps({"cuda": ok, "tflops": round(flops)}))
"""


def main(python: str) -> None:
    if not glob.glob("/dev/nvidia[0-9]*"):
        print("no NVIDIA GPU on this machine (/dev/nvidia0 missing): nothing to measure")
        return
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "workspaces"
        bare = subprocess.run([python, "-c", MATMUL], capture_output=True, text=True, timeout=600)
        print("| settings | torch.cuda.is_available() | bf16 8192³ matmul | tool note |")
        print("|---|---|---|---|")
        figures = json.loads(bare.stdout.strip().splitlines()[-1]) if bare.returncode == 0 else {}
        print(f"| bare (no sandbox) | {figures.get('cuda')} | {figures.get('tflops')} TFLOP/s | — |")
        for label, overrides in [("sandbox, defaults", {}), ("sandbox, sandbox_memory_mb = 0", {"sandbox_memory_mb": 0}),
                                 ("sandbox, sandbox_gpus = none", {"sandbox_gpus": "none"})]:
            settings = load_settings({"home": str(home), "sandbox_python": python, **overrides})
            ws = Workspace.open_or_create(home, "gpu")
            (ws.files_dir / "mm.py").write_text(MATMUL)
            result = run_script(ToolContext(ws=ws, settings=settings), "mm.py", timeout=600)
            try:
                got = json.loads(result["stdout"].strip().splitlines()[-1])
            except (ValueError, IndexError):
                got = {"cuda": f"error (exit {result['exit_code']})", "tflops": "—"}
            print(f"| {label} | {got['cuda']} | {got['tflops']} TFLOP/s | {result['note'] or 'all protections on'} "
                  f"(GPUs seen: {', '.join(result['gpus']) or 'none'}) |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else sys.executable)
