"""What the sandbox enforces on this machine, said to the user (`doctor`) and to the model (instructions).

A missing protection says what is at risk and how to fix it. GPUs are listed, and when `sandbox_python`
has PyTorch, CUDA is probed both outside and inside the sandbox so a sandbox that takes the GPU away is
reported instead of silently slowing every experiment down.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from agent_scientist.config import Settings
from agent_scientist.contracts import Check
from agent_scientist.fsio import atomic_write_json, read_json
from agent_scientist.sandbox.env import clean_env, select_gpus
from agent_scientist.sandbox.probe import Gpu, detect
from agent_scientist.sandbox.run import SANDBOX_UID, run_sandboxed

NOT_ENFORCED = {  # what a user risks when a protection is missing, shown by `doctor`
    "kill_tree": "a grandchild that leaves the process group can outlive a timeout",
    "cpu_limit": "a busy loop can use CPU until the timeout", "memory_limit": "a memory hog can exhaust RAM",
    "file_size_limit": "a disk filler can fill the disk",
    "write_limit": "a run can fill the disk with many files",
    "process_limit": "a fork bomb is not bounded",
    "read_only_fs": "experiments can write anywhere your user can",
    "home_hidden": "experiments can read your home directory (e.g. ~/.netrc, ~/.aws, ~/.ssh) and other workspaces",
    "private_tmp": "experiments share /tmp with the rest of the machine",
    "ipc_isolated": "experiments can reach Unix sockets (Docker, D-Bus, ssh-agent) and shared memory",
    "no_network": "experiments can reach the network",
    "no_root": "experiments run as root",
    "no_capabilities": "experiments run with root's capabilities",
    "own_keyring": "experiments can search and read the keys of your session keyring",
}
NS_FIX = ("enable unprivileged user namespaces: `sudo sysctl -w kernel.unprivileged_userns_clone=1` (Debian), "
          "`sudo sysctl -w user.max_user_namespaces=10000`, on Ubuntu 23.10+ also "
          "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`; in Docker allow unshare "
          "(--security-opt seccomp=unconfined)")
NEEDS_NS = ("kill_tree", "read_only_fs", "home_hidden", "private_tmp", "ipc_isolated", "no_network")
CUDA_PROBE = "import torch; ok = torch.cuda.is_available(); print('CUDA', ok, torch.cuda.device_count() if ok else 0)"
CUDA_FAILURE = re.compile(r"CUDA (initialization|driver|error)|cudaError|no CUDA-capable device|"
                          r"CUDA_ERROR|Found no NVIDIA driver|torch\.cuda\.is_available\(\) is False", re.I)
# (import name, pip name) a sandboxed experiment may want, cheapest import first; probed by really importing each
LAB_PACKAGES = (("numpy", "numpy"), ("scipy", "scipy"), ("pandas", "pandas"), ("sklearn", "scikit-learn"),
                ("matplotlib", "matplotlib"), ("torch", "torch"))
IMPORT_PROBE = ("import importlib, json, sys\n"
                f"for name in {[n for n, _ in LAB_PACKAGES]!r}:\n"
                "    try:\n        importlib.import_module(name)\n        print('ok', name, flush=True)\n"
                "    except BaseException:\n        print('no', name, flush=True)\n"
                "print('path', json.dumps([p for p in sys.path if p]), flush=True)\n")
IMPORT_PROBE_TIMEOUT = 60.0  # seconds for all of them (torch alone takes seconds on a slow disk)
IMPORTS_CACHE = ".sandbox-imports.json"  # in the home: [{key, paths: [[path, mtime]], found}]
_cuda_cache: dict[tuple, tuple[bool | None, bool | None, str]] = {}


def describe_gpus(gpus: list[Gpu]) -> str:
    """'1 × NVIDIA H200, 140 GiB' (grouped by model)."""
    groups = Counter((g.name, round(g.memory_mb / 1024)) for g in gpus)
    return "; ".join(f"{n} × {name}" + (f", {gib} GiB" if gib else "") for (name, gib), n in groups.items())


def accelerators(settings: Settings) -> str:
    """The planner's line on accelerators, so it writes CUDA code when a GPU is there."""
    gpus, _ = select_gpus(settings.sandbox_gpus, detect().gpus)
    if gpus:
        return (f"Accelerators: GPU: {describe_gpus(gpus)} (CUDA, visible to experiments); use it "
                "(e.g. torch.device('cuda')) when it speeds an experiment up.")
    if detect().gpus:
        return "Accelerators: none for experiments (sandbox_gpus = none): run on CPU."
    return "Accelerators: none (CPU only)."


def protection_report(settings: Settings) -> dict[str, tuple[bool, str]]:
    """Which protections a run would get on this machine; a missing one says what is at risk and the fix."""
    caps = detect()
    ns, root = bool(caps.unshare), os.geteuid() == 0
    nproc = caps.rlimits and not root
    gpus, _ = select_gpus(settings.sandbox_gpus, caps.gpus)
    mb = settings.sandbox_memory_mb
    if caps.memory and mb > 0:
        memory = (True, f"{mb} MB for the whole run, /tmp included ({caps.details['memory_cgroup']})")
    else:
        memory = (caps.rlimits and mb > 0 and not gpus, f"{mb} MB per process (RLIMIT_AS: "
                  f"{caps.details.get('memory_cgroup', '')})")
    report = {
        "process_group": (True, "own session and process group"),
        "kill_tree": (ns or bool(caps.cgroup_base), "PID namespace" if ns else "pids cgroup"),
        "cpu_limit": (caps.rlimits and settings.sandbox_cpu_seconds > 0, f"{settings.sandbox_cpu_seconds} s"),
        "memory_limit": memory,
        "file_size_limit": (caps.rlimits and settings.sandbox_file_size_mb > 0,
                            f"{settings.sandbox_file_size_mb} MB per file"),
        "write_limit": (settings.sandbox_write_mb > 0 or settings.sandbox_write_files > 0,
                        f"{settings.sandbox_write_mb} MB and {settings.sandbox_write_files} files added to "
                        "files/ per run (checked every 0.25 s)"),
        "process_limit": (settings.sandbox_max_procs > 0 and (bool(caps.cgroup_base) or nproc),
                          f"{settings.sandbox_max_procs} processes (" + (caps.details.get("cgroup", "")
                          if caps.cgroup_base or not nproc else "RLIMIT_NPROC") + ")"),
        "clean_env": (True, "credential-like variables are never passed"),
        "read_only_fs": (ns, "mount namespace"),
        "home_hidden": (ns, "only system dirs, the interpreter and this workspace's files/ are visible"),
        "private_tmp": (ns, "private /tmp, /run and /dev/shm"),
        "ipc_isolated": (ns, "IPC and UTS namespaces; the host's Unix sockets inside exposed folders are covered "
                             "(found in /proc/net/unix; a socket bound by a relative path or in another network "
                             "namespace is not seen)"),
        "no_network": (settings.sandbox_network or (ns and caps.network_ns),  # allowing it is the user's call
                       "not isolated: sandbox_network=true allows network" if settings.sandbox_network
                       else "network namespace"),
        "no_root": (True, f"runs as uid {SANDBOX_UID}" if root else "runs as your user"),
        "no_capabilities": (ns or not root or sys.platform.startswith("linux"), "capabilities dropped"),
        "own_keyring": (sys.platform.startswith("linux"), "a fresh session keyring for every run"),
    }
    fixes = {"cpu_limit": "set sandbox_cpu_seconds > 0", "file_size_limit": "set sandbox_file_size_mb > 0",
             "memory_limit": "set sandbox_memory_mb > 0" if mb <= 0 else
             "GPUs are visible and only RLIMIT_AS is possible here, which breaks CUDA: run as root or "
             "delegate a cgroup v2 memory controller, or set sandbox_gpus = none",
             "write_limit": "set sandbox_write_mb or sandbox_write_files > 0",
             "process_limit": "set sandbox_max_procs > 0 and run as a normal user, or give agent-scientist a "
                              "writable pids cgroup (" + caps.details.get("cgroup", "") + ")",
             "no_network": caps.details.get("network", "")}
    if not caps.rlimits:
        fixes.update(dict.fromkeys(["cpu_limit", "file_size_limit"], caps.details["rlimits"]))
    ns_told = False
    for name, (ok, _) in list(report.items()):
        if ok:
            continue
        fix = fixes.get(name, "")
        if not ns and name in NEEDS_NS:
            why = caps.details.get("namespaces", "")
            fix = "needs user namespaces (see the fix above)" if ns_told else f"needs user namespaces ({why})" + (
                f"; to fix, {NS_FIX}" if sys.platform.startswith("linux") else "")
            ns_told = True
        report[name] = (False, f"NOT enforced ({NOT_ENFORCED.get(name, name)})" + (f": {fix}" if fix else ""))
    return report


def has_torch(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is None)"],
                              capture_output=True, timeout=60, stdin=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def cuda_probe(settings: Settings) -> tuple[bool | None, bool | None, str]:
    """(CUDA works outside, inside the sandbox, detail); None where it could not be asked (cached)."""
    python = settings.sandbox_python
    key = (python, settings.sandbox_gpus, settings.sandbox_memory_mb)
    if key in _cuda_cache:
        return _cuda_cache[key]
    gpus, _ = select_gpus(settings.sandbox_gpus, detect().gpus)
    if not gpus or not has_torch(python):
        return None, None, "no GPU for experiments" if not gpus else f"{python} has no PyTorch"
    with tempfile.TemporaryDirectory(prefix="agent-scientist-cuda-") as tmp:
        env = clean_env(settings, tmp, tmp, gpus)
        try:
            outside = subprocess.run([python, "-c", CUDA_PROBE], capture_output=True, text=True, timeout=300,
                                     env=env, stdin=subprocess.DEVNULL, cwd=tmp).stdout.startswith("CUDA True")
        except (OSError, subprocess.SubprocessError):
            outside = False
        out, err = _in_sandbox(settings, Path(tmp), CUDA_PROBE, 300)
        inside = out.startswith("CUDA True")
        why = err.strip().splitlines()[-1:] or [""]
    detail = ("CUDA works inside the sandbox" if inside else
              f"CUDA fails inside the sandbox but works outside ({why[0][:200]})" if outside else
              "CUDA fails outside the sandbox too (driver or PyTorch build)")
    _cuda_cache[key] = (outside, inside, detail)
    return _cuda_cache[key]


def _in_sandbox(settings: Settings, tmp: Path, code: str, timeout: float) -> tuple[str, str]:
    """(stdout, stderr) of `python -c code` run in the sandbox with a run's restrictions, in a scratch folder."""
    files = tmp / "files"
    files.mkdir(exist_ok=True)
    result = run_sandboxed([settings.sandbox_python, "-c", code], cwd=files, workspace=tmp,
                           writable=[files, tmp / "sandbox"], home=tmp / "sandbox" / "home", settings=settings,
                           timeout=timeout, out_dir=tmp / "out")
    return (bytes(result.stdout.tail).decode("utf-8", "replace"),
            bytes(result.stderr.tail).decode("utf-8", "replace"))


def _fingerprint(paths: list[str]) -> list[list]:
    """[path, mtime] of the interpreter and each folder on its sys.path: installing a package changes one."""
    out: list[list] = []
    for path in paths:
        with contextlib.suppress(OSError):
            out.append([path, os.stat(path).st_mtime_ns])
    return out


def importable(settings: Settings) -> list[str]:
    """Which of LAB_PACKAGES the sandbox's Python really imports under a run's restrictions (pip names), probed
    once per interpreter and settings and kept in the home until a folder on its sys.path changes."""
    if not os.path.isfile(settings.sandbox_python):
        return []
    key = [settings.sandbox_python, settings.sandbox_memory_mb, settings.sandbox_cpu_seconds, settings.sandbox_gpus]
    cache = Path(settings.home) / IMPORTS_CACHE
    try:
        entries = [e for e in read_json(cache) if isinstance(e, dict)]
    except (OSError, ValueError, TypeError):  # none yet, or damaged: probed again and rewritten
        entries = []
    for entry in entries:
        with contextlib.suppress(TypeError, ValueError, KeyError, IndexError):
            if entry["key"] == key and _fingerprint([p for p, _ in entry["paths"]]) == entry["paths"]:
                return [str(name) for name in entry["found"]]
    with tempfile.TemporaryDirectory(prefix="agent-scientist-imports-") as tmp:
        out, _ = _in_sandbox(settings, Path(tmp), IMPORT_PROBE, IMPORT_PROBE_TIMEOUT)
    names = dict(LAB_PACKAGES)
    lines = out.splitlines()
    found = [names[line[3:]] for line in lines if line.startswith("ok ") and line[3:] in names]
    paths = next((line[5:] for line in lines if line.startswith("path ")), "")
    # The probe ran to its end: keep the answer (one cut short is asked again next time); never create the home
    # for it (doctor on a fresh machine creates nothing).
    if paths and Path(settings.home).is_dir():
        with contextlib.suppress(OSError, ValueError, TypeError):
            entry = {"key": key, "paths": _fingerprint([settings.sandbox_python, *json.loads(paths)]), "found": found}
            atomic_write_json(cache, [*(e for e in entries if e.get("key") != key)][-15:] + [entry])
    return found


def packages_line(settings: Settings) -> str:
    """The planner's line on what experiments can import, so it never writes a script that needs a missing one."""
    found = importable(settings)
    if not found:
        return "Experiments have the standard library only: none of the usual scientific packages is installed."
    return f"Scientific packages experiments can import: {', '.join(found)} (and the standard library); use no other."


def cuda_note(settings: Settings, gpus_seen: list[str], stderr_tail: str) -> str:
    """For a run that saw GPUs and failed on CUDA: say whether the sandbox is the cause."""
    if not gpus_seen or not CUDA_FAILURE.search(stderr_tail):
        return ""
    outside, inside, detail = cuda_probe(settings)
    if outside and not inside:
        return f"{detail}: the sandbox takes the GPU away; the user should run `agent-scientist doctor`."
    return ""


def doctor_checks(settings: Settings) -> list[Check]:
    """One check per sandbox protection, plus the interpreter and the GPUs, for `agent-scientist doctor`."""
    python = settings.sandbox_python
    checks = [("sandbox interpreter", os.path.isfile(python),
               python if os.path.isfile(python) else f"{python} not found: set AGENT_SCIENTIST_SANDBOX_PYTHON")]
    for name, (ok, detail) in protection_report(settings).items():
        checks.append((f"sandbox {name.replace('_', ' ')}", ok, detail))
    caps = detect()
    gpus, bad = select_gpus(settings.sandbox_gpus, caps.gpus)
    if caps.gpus:
        shown = f"{describe_gpus(caps.gpus)}; experiments see " + (
            ", ".join(str(g.index) for g in gpus) if gpus else "none") + f" (sandbox_gpus = {settings.sandbox_gpus})"
    else:
        shown = "none found (no /dev/nvidia* device)"
    checks.append(("sandbox GPUs", not bad, f"{shown}{'; ' + bad if bad else ''}"))
    if gpus and os.path.isfile(python):
        outside, inside, detail = cuda_probe(settings)
        if inside is not None:
            checks.append(("sandbox CUDA", bool(inside), detail))
    if os.path.isfile(python):
        found = importable(settings)
        missing = [pip for _, pip in LAB_PACKAGES if pip not in found]
        checks.append(("sandbox packages", True, "experiments can import " + (", ".join(found) or "no scientific package")
                       + (f"; not importable: {', '.join(missing)} (pip install them into {python}, or set "
                          "sandbox_python to a venv that has them)" if missing else "")))
    return checks
