"""GPUs in the sandbox: which ones a run sees (sandbox_gpus), what is recorded and told, and CUDA itself.

Without a GPU the machine's device directory is replaced at the boundary `detect(dev=...)` by a folder of
stand-in nodes and a stand-in `nvidia-smi` on PATH; the sandbox binds, hides and names them for real.
Tests that need CUDA itself skip (visibly) on machines without an NVIDIA GPU and PyTorch.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.lab import lab, script

from agent_scientist.contracts import Toolbox
from agent_scientist.experiments import runner as runner_module
from agent_scientist.experiments.runner import run_script
from agent_scientist.sandbox import Gpu, detect, select_gpus
from agent_scientist.sandbox.report import doctor_checks

HAVE_NS = bool(detect().unshare)
needs_ns = pytest.mark.needs_sandbox(HAVE_NS, "user namespaces")
SMI = "#!/bin/sh\nprintf '0, NVIDIA H200, 143771, 00000000:19:00.0\\n1, NVIDIA H200, 143771, 00000000:3B:00.0\\n'\n"
LOOK = """
import json, os
nodes = sorted(n for n in os.listdir("/dev") if n.startswith("nvidia"))
print(json.dumps([os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("CUDA_DEVICE_ORDER"), nodes]))
"""


@pytest.fixture
def two_gpus(tmp_path: Path, monkeypatch):
    """This machine, as if it had two H200s: stand-in device nodes and nvidia-smi."""
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"):
        (dev / name).write_text(name)
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text(SMI)
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{smi.parent}{os.pathsep}{os.environ['PATH']}")
    yield detect(refresh=True, dev=str(dev))
    detect(refresh=True)


def test_gpus_are_found_and_named(two_gpus) -> None:
    dev = os.path.dirname(two_gpus.gpus[0].node)
    assert two_gpus.gpus == [Gpu(0, "NVIDIA H200", 143771, f"{dev}/nvidia0"), Gpu(1, "NVIDIA H200", 143771, f"{dev}/nvidia1")]
    assert sorted(two_gpus.gpu_control) == [f"{dev}/nvidia-uvm", f"{dev}/nvidiactl"]
    assert two_gpus.gpus[0].describe() == "0: NVIDIA H200, 140 GiB"


def test_sandbox_gpus_setting_is_parsed() -> None:
    gpus = [Gpu(0, "A", 0, "/dev/nvidia0"), Gpu(1, "A", 0, "/dev/nvidia1")]
    assert select_gpus("auto", gpus) == (gpus, "")
    assert select_gpus("none", gpus) == ([], "")
    assert select_gpus(" 1 ", gpus) == (gpus[1:], "")
    chosen, note = select_gpus("1,7", gpus)
    assert chosen == gpus[1:] and note == "sandbox_gpus lists 7, which this machine does not have (GPUs here: 0, 1)."


@needs_ns
@pytest.mark.parametrize(("setting", "visible", "nodes"), [
    ("auto", "0,1", ["nvidia-uvm", "nvidia0", "nvidia1", "nvidiactl"]),
    ("1", "1", ["nvidia-uvm", "nvidia1", "nvidiactl"]),
    ("none", "", []),
])
def test_a_run_sees_only_its_gpus_and_records_them(two_gpus, home: Path, setting: str, visible: str,
                                                   nodes: list[str]) -> None:
    ctx = lab(home, sandbox_gpus=setting)
    script(ctx, "look.py", LOOK)
    result = run_script(ctx, "look.py", timeout=60)
    assert json.loads(result["stdout"]) == [visible, "PCI_BUS_ID", nodes], result
    expected = [f"{i}: NVIDIA H200, 140 GiB" for i in visible.split(",") if i]
    assert result["gpus"] == expected and ctx.ws.runs()[-1]["gpus"] == expected


def test_without_namespaces_cuda_visible_devices_still_applies(two_gpus, home: Path) -> None:
    ctx = lab(home, sandbox_gpus="1,7")
    script(ctx, "look.py", LOOK)
    result = run_script(ctx, "look.py", timeout=60, namespaces=False)
    assert json.loads(result["stdout"])[:2] == ["1", "PCI_BUS_ID"] and result["gpus"] == ["1: NVIDIA H200, 140 GiB"]
    assert "sandbox_gpus lists 7, which this machine does not have (GPUs here: 0, 1)." in result["note"]


def test_address_space_limit_is_not_applied_to_a_gpu_run(two_gpus, home: Path) -> None:
    two_gpus.memory = None  # a machine where no memory cgroup can be made: only RLIMIT_AS is left
    ctx = lab(home)
    script(ctx, "limits.py", "import resource\nprint(resource.getrlimit(resource.RLIMIT_AS)[0])\n")
    gpu_run = run_script(ctx, "limits.py", timeout=60)
    assert int(gpu_run["stdout"]) == -1 and gpu_run["protections"]["memory_limit"] is False
    assert "Memory limit not applied: this run sees GPUs" in gpu_run["note"]
    cpu_run = run_script(lab(home, sandbox_gpus="none"), "limits.py", timeout=60)
    assert int(cpu_run["stdout"]) == 4096 * 1024 * 1024 and cpu_run["protections"]["memory_limit"] is True
    memory = dict((name, (ok, detail)) for name, ok, detail in doctor_checks(ctx.settings))["sandbox memory limit"]
    assert memory[0] is False and "breaks CUDA" in memory[1]


def test_planner_is_told_the_accelerators(two_gpus, home: Path) -> None:
    box = Toolbox()
    runner_module.RunnerCapability().register(lab(home), box)
    assert ("Accelerators: GPU: 2 × NVIDIA H200, 140 GiB (CUDA, visible to experiments); use it "
            "(e.g. torch.device('cuda')) when it speeds an experiment up.") in box.instructions
    box = Toolbox()
    runner_module.RunnerCapability().register(lab(home, sandbox_gpus="none"), box)
    assert "Accelerators: none for experiments (sandbox_gpus = none): run on CPU." in box.instructions


def test_doctor_lists_the_gpus(two_gpus, home: Path) -> None:
    checks = {name: (ok, detail) for name, ok, detail in doctor_checks(lab(home, sandbox_gpus="0").settings)}
    assert checks["sandbox GPUs"] == (True, "2 × NVIDIA H200, 140 GiB; experiments see 0 (sandbox_gpus = 0)")
    bad = {name: (ok, detail) for name, ok, detail in doctor_checks(lab(home, sandbox_gpus="3").settings)}
    assert bad["sandbox GPUs"][0] is False and "sandbox_gpus lists 3" in bad["sandbox GPUs"][1]


def test_no_gpu_machine_says_so(home: Path) -> None:
    if detect().gpus:
        pytest.skip("this machine has GPUs")
    box = Toolbox()
    runner_module.RunnerCapability().register(lab(home), box)
    assert "Accelerators: none (CPU only)." in box.instructions
    checks = {name: detail for name, _, detail in doctor_checks(lab(home).settings)}
    assert checks["sandbox GPUs"] == "none found (no /dev/nvidia* device)"


def _torch_cuda() -> bool:
    if not glob.glob("/dev/nvidia[0-9]*"):
        return False
    code = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300).returncode == 0


HAVE_CUDA = _torch_cuda()
needs_cuda = pytest.mark.skipif(not HAVE_CUDA, reason="needs an NVIDIA GPU and PyTorch with CUDA (not a "
                                                      "sandbox protection: never required in CI)")
MATMUL = """
import json, time, torch
ok = torch.cuda.is_available()
flops = 0.0
if ok:
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(20):
        a @ b
    torch.cuda.synchronize()
    flops = 20 * 2 * 8192 ** 3 / (time.perf_counter() - start) / 1e12
print(json.dumps({"cuda": ok, "tflops": round(flops)}))
"""


@needs_cuda
@pytest.mark.parametrize("setting", ["auto", "none"])
def test_cuda_in_the_sandbox_under_default_settings(home: Path, setting: str) -> None:
    ctx = lab(home, sandbox_gpus=setting)
    script(ctx, "mm.py", MATMUL)
    result = run_script(ctx, "mm.py", timeout=600)
    print(setting, result["stdout"], result["note"])  # the figures, for the record (pytest -s)
    assert json.loads(result["stdout"])["cuda"] is (setting == "auto"), result
    assert result["protections"]["memory_limit"] is True or "Memory limit not applied" in result["note"]
