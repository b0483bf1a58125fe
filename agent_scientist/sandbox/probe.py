"""What this machine lets the sandbox enforce: namespaces, cgroups (pids, memory), rlimits and GPUs.

Probed once per process (`detect`); every answer is what the kernel really did when tried, never a guess
from versions. The GPU list is read from a device directory (`/dev` unless a caller passes another: the
boundary tests use to stand in for a GPU machine) and named by `nvidia-smi` when it is installed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_PREFIX = "agent-scientist-"
GPU_CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset", "nvidia-caps")
# Flags for util-linux unshare. As root there is no user namespace: the boot runs with root's powers in
# private mount/PID/IPC/UTS namespaces, then becomes an unprivileged uid before the experiment starts.
_BASE_FLAGS = ["--mount", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc"]


def ns_flags() -> list[str]:
    """unshare flags for this agent: a user namespace (uid 0 mapped to us) unless we are root already."""
    return _BASE_FLAGS if os.geteuid() == 0 else ["--user", "--map-root-user", *_BASE_FLAGS]


@dataclass
class Gpu:
    index: int  # CUDA index in PCI bus order (CUDA_DEVICE_ORDER=PCI_BUS_ID)
    name: str
    memory_mb: int  # 0 when unknown
    node: str  # its device node, e.g. /dev/nvidia0

    def describe(self) -> str:
        size = f", {round(self.memory_mb / 1024)} GiB" if self.memory_mb else ""
        return f"{self.index}: {self.name}{size}"


@dataclass
class Cgroup:
    """A directory under which the sandbox can make a cgroup with one controller (v1) or all (v2)."""

    base: str
    v2: bool


@dataclass
class Capabilities:
    """What this machine lets the sandbox enforce, probed once per process."""

    unshare: str = ""  # path of unshare when mount+pid(+user) namespaces work
    network_ns: bool = False
    cgroup_base: str = ""  # where a pids cgroup can be made ("" if nowhere)
    memory: Cgroup | None = None  # where a memory cgroup can be made
    rlimits: bool = False
    gpus: list[Gpu] = field(default_factory=list)
    gpu_control: list[str] = field(default_factory=list)  # nodes every CUDA process needs (nvidiactl, uvm)
    details: dict[str, str] = field(default_factory=dict)


_caps: Capabilities | None = None
_caps_lock = threading.Lock()


def _probe(argv: list[str]) -> tuple[bool, str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, str(exc)
    return proc.returncode == 0, proc.stderr.strip()[:200]


def _own_cgroups() -> dict[str, str]:
    """controller ('' for cgroup v2) -> this process's cgroup path, from /proc/self/cgroup."""
    owned: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                owned[name] = path
    return owned


def _cgroup_mounts() -> list[tuple[str, str, bool, set[str]]]:
    """(mount point, root inside the hierarchy, is v2, v1 controllers) of every cgroup mount."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            head, _, tail = line.partition(" - ")
            parts, rest = head.split(), tail.split()
            if len(parts) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
                continue
            found.append((parts[4], parts[3], rest[0] == "cgroup2", set(rest[2].split(","))))
    return found


def _try_cgroup(base: str, limit_file: str, value: str) -> bool:
    """Really make a cgroup there and set one limit: the only honest test of delegation."""
    path = Path(base) / f"{CGROUP_PREFIX}{os.getpid()}-probe-{time.monotonic_ns()}"
    try:
        path.mkdir()
    except OSError:
        return False
    try:
        (path / limit_file).write_text(value)
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            path.rmdir()


def find_cgroup(controller: str) -> tuple[Cgroup | None, str]:
    """Where to make a cgroup with `controller` (pids or memory): our own cgroup or an ancestor."""
    owned = _own_cgroups()
    limit = {"pids": ("pids.max", "max"), "memory": ("memory.max", "max")}[controller]
    for point, root, v2, controllers in _cgroup_mounts():
        if not v2 and controller not in controllers:
            continue
        own = owned.get("" if v2 else controller)
        if own is None:
            continue
        top = root.rstrip("/")
        if not (own == root or own.startswith(top + "/")):
            continue
        here, mount = Path(point) / own[len(top):].lstrip("/"), Path(point)
        candidates = [here, *[p for p in here.parents if p == mount or mount in p.parents]]
        for base in candidates:
            if not os.access(base, os.W_OK):
                continue
            if v2:
                with contextlib.suppress(OSError):
                    if controller not in (base / "cgroup.subtree_control").read_text().split():
                        continue
            file = limit[0] if v2 else {"pids": "pids.max", "memory": "memory.limit_in_bytes"}[controller]
            if _try_cgroup(str(base), file, limit[1] if v2 or controller == "pids" else "-1"):
                return Cgroup(str(base), v2), f"cgroup {'v2' if v2 else 'v1'} {controller} controller at {base}"
    return None, f"no {controller} cgroup this process may create (not root and not delegated)"


def remove_stale_cgroups(base: str) -> None:
    """Drop cgroups left by agents that died (their pid is in the name)."""
    for path in Path(base).glob(CGROUP_PREFIX + "*"):
        try:
            owner = int(path.name[len(CGROUP_PREFIX):].split("-")[0])
            if not Path(f"/proc/{owner}").exists():
                path.rmdir()
        except (ValueError, OSError):
            continue


def find_gpus(dev: str = "/dev") -> tuple[list[Gpu], list[str]]:
    """NVIDIA GPUs from the device nodes in `dev`, named by nvidia-smi when it answers; plus control nodes."""
    try:
        names = os.listdir(dev)
    except OSError:
        return [], []
    minors = sorted(int(m.group(1)) for n in names if (m := re.fullmatch(r"nvidia(\d+)", n)))
    control = [os.path.join(dev, n) for n in GPU_CONTROL_NODES if n in names]
    if not minors:
        return [], control
    smi: dict[int, tuple[str, int]] = {}  # minor -> (name, MiB)
    if shutil.which("nvidia-smi"):
        with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
            out = subprocess.run(["nvidia-smi", "--query-gpu=index,name,memory.total,pci.bus_id",
                                  "--format=csv,noheader,nounits"], capture_output=True, text=True,
                                 timeout=15, stdin=subprocess.DEVNULL).stdout
            for line in out.splitlines():
                smi_index, smi_name, smi_mem, bus = (part.strip() for part in line.split(",")[:4])
                smi[_minor_of(bus, int(smi_index))] = (smi_name, int(float(smi_mem)))
    gpus: list[Gpu] = []
    for index, minor in enumerate(minors):  # PCI bus order is minor order on NVIDIA's driver
        name, mem = smi.get(minor, ("NVIDIA GPU", 0))
        gpus.append(Gpu(index, name, mem, os.path.join(dev, f"nvidia{minor}")))
    return gpus, control


def _minor_of(bus_id: str, default: int) -> int:
    info = Path("/proc/driver/nvidia/gpus") / bus_id.lower().replace("00000000:", "0000:") / "information"
    with contextlib.suppress(OSError, ValueError):
        for line in info.read_text().splitlines():
            if line.startswith("Device Minor:"):
                return int(line.split(":")[1])
    return default


def detect(refresh: bool = False, dev: str = "/dev") -> Capabilities:
    """Probe namespaces, cgroups, rlimits and GPUs on this machine (cached until `refresh`)."""
    global _caps
    with _caps_lock:
        if _caps is not None and not refresh:
            return _caps
        caps = Capabilities()
        try:
            import resource  # noqa: F401

            caps.rlimits = True
        except ImportError:
            caps.details["rlimits"] = "the resource module is missing on this platform"
        unshare, true = shutil.which("unshare"), shutil.which("true")
        if not sys.platform.startswith("linux"):
            caps.details["namespaces"] = f"not Linux ({sys.platform}): no namespaces"
        elif not unshare or not true:
            caps.details["namespaces"] = "util-linux `unshare` not found; install util-linux"
        else:
            ok, err = _probe([unshare, *ns_flags(), "--", true])
            if ok:
                caps.unshare = unshare
                caps.network_ns, err_net = _probe([unshare, *ns_flags(), "--net", "--", true])
                if not caps.network_ns:
                    caps.details["network"] = f"no network namespace: {err_net}"
            else:
                caps.details["namespaces"] = f"unshare refused them: {err}"
        if sys.platform.startswith("linux"):
            pids, caps.details["cgroup"] = find_cgroup("pids")
            caps.cgroup_base = pids.base if pids else ""
            caps.memory, caps.details["memory_cgroup"] = find_cgroup("memory")
            for found in {c.base for c in (pids, caps.memory) if c}:
                remove_stale_cgroups(found)
        caps.gpus, caps.gpu_control = find_gpus(dev)
        _caps = caps
        return caps
