"""Process lifecycle of one sandboxed run: cgroups, the boot's configuration, the write watch, kill and reap.

As root the experiment runs as an unprivileged uid (SANDBOX_UID) and the writable folders are handed to
it first; otherwise uid 0 of a user namespace stands for the agent's user. Memory is limited for the whole
run by a memory cgroup where one can be made, else per process by RLIMIT_AS (never for a run that sees
GPUs: CUDA reserves far more address space than it uses).
"""

from __future__ import annotations

import ast
import contextlib
import marshal
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent_scientist.config import Settings
from agent_scientist.sandbox.capture import Capture
from agent_scientist.sandbox.env import SYSTEM_PATHS, clean_env, interpreter_paths, select_gpus
from agent_scientist.sandbox.probe import CGROUP_PREFIX, detect, ns_flags
from agent_scientist.sandbox.tree import WriteWatch, hand_over, reachable_by_others

MB = 1024 * 1024
BOOT = Path(__file__).with_name("boot.py")
SANDBOX_UID = 65534  # "nobody": what a root agent's experiments run as
PROTECTIONS = ("process_group", "kill_tree", "cpu_limit", "memory_limit", "file_size_limit", "write_limit",
               "process_limit", "clean_env", "read_only_fs", "home_hidden", "private_tmp", "ipc_isolated",
               "no_network", "no_root", "no_capabilities", "own_keyring")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


@dataclass
class SandboxResult:
    exit_code: int | None
    timed_out: bool
    interrupted: bool
    duration_s: float
    stdout: Capture
    stderr: Capture
    protections: dict[str, bool]
    notes: list[str]
    gpus: list[str] = field(default_factory=list)  # the GPUs the run could see, e.g. "0: NVIDIA H200, 141 GB"
    stopped: str = ""  # why the sandbox stopped the run early ("" or a sentence for the model)
    oom_killed: bool = False
    warnings: list[str] = field(default_factory=list)  # what the model must know about this run's sandbox


def _make_cgroups(settings: Settings, memory_bytes: int) -> list[str]:
    """One cgroup per hierarchy with the pids and memory limits; [] where none can be made."""
    caps = detect()
    made: dict[str, list[tuple[str, str]]] = {}
    if caps.cgroup_base:
        made.setdefault(caps.cgroup_base, []).append(
            ("pids.max", str(settings.sandbox_max_procs) if settings.sandbox_max_procs > 0 else "max"))
    if caps.memory and memory_bytes > 0:
        if caps.memory.v2:  # swap off, and an OOM kills the whole run rather than one arbitrary process
            limits = [("memory.max", str(memory_bytes)), ("memory.swap.max", "0"), ("memory.oom.group", "1")]
        else:
            limits = [("memory.limit_in_bytes", str(memory_bytes)), ("memory.memsw.limit_in_bytes",
                                                                      str(memory_bytes))]
        made.setdefault(caps.memory.base, []).extend(limits)
    dirs = []
    for base, files in made.items():
        path = Path(base) / f"{CGROUP_PREFIX}{os.getpid()}-{time.monotonic_ns()}"
        try:
            path.mkdir()
        except OSError:
            continue
        dirs.append(str(path))
        for name, value in files:
            with contextlib.suppress(OSError):  # memsw and swap.max are absent without swap accounting
                (path / name).write_text(value)
    return dirs


def _limited(cgroups: list[str], name: str) -> bool:
    for cg in cgroups:
        with contextlib.suppress(OSError):
            if (Path(cg) / name).read_text().strip() not in ("max", "9223372036854771712"):
                return True
    return False


def host_sockets(exposed: list[str]) -> list[str]:
    """The host's named Unix sockets (/proc/net/unix of the agent's network namespace) inside an exposed
    path, as real paths: the boot binds /dev/null over each, so none can be connected to from a run.

    A walk of the exposed trees would find sockets of other namespaces too, but takes seconds (/usr alone
    is hundreds of thousands of entries); the kernel's list costs a read.
    """
    try:
        lines = Path("/proc/net/unix").read_text(errors="replace").splitlines()[1:]
    except OSError:
        return []
    roots = [os.path.realpath(p).rstrip("/") or "/" for p in exposed]
    found: set[str] = set()
    for line in lines:
        fields = line.split(None, 7)
        if len(fields) < 8 or not fields[7].startswith("/"):
            continue  # unnamed, abstract (@, per network namespace) or bound by a relative path
        path = fields[7]
        real = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        if any(real == r or real.startswith(r + "/") or r == "/" for r in roots):
            found.add(real)
    return sorted(found)


def _oom_killed(cgroups: list[str]) -> bool:
    for cg in cgroups:
        for name in ("memory.events", "memory.oom_control"):
            with contextlib.suppress(OSError, ValueError):
                for line in (Path(cg) / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
    return False


def _hide_own_proc() -> None:
    """Make the agent non-dumpable, or a same-user child could read its /proc/<pid>/environ (no PID ns)."""
    if os.geteuid() == 0 or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


def _wait(proc: subprocess.Popen, timeout: float) -> None:
    """Wait for the process without polling (pidfd on Linux); raises subprocess.TimeoutExpired."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        proc.wait(timeout=timeout)
        return
    try:
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            select.select([fd], [], [], left)
    finally:
        os.close(fd)


def kill_tree(proc: subprocess.Popen, cgroups: list[str], scan: bool) -> None:
    """SIGKILL the process group, the cgroups' members and (if `scan`) anything else in the session."""
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    victims: set[int] = set()
    for cg in cgroups:
        with contextlib.suppress(OSError):
            victims |= {int(p) for p in Path(cg, "cgroup.procs").read_text().split()}
    if scan and sys.platform.startswith("linux"):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    stat_line = (entry / "stat").read_text()
                    if int(stat_line.rsplit(")", 1)[1].split()[3]) == proc.pid:  # session id
                        victims.add(int(entry.name))
    for pid in victims - {os.getpid()}:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _drop_cgroup(cgroup: str) -> None:
    for _ in range(50):
        try:
            os.rmdir(cgroup)
            return
        except FileNotFoundError:
            return
        except OSError:
            with contextlib.suppress(OSError, ValueError):
                for pid in Path(cgroup, "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.02)


@dataclass
class Sandboxed:
    """A process started by `start_sandboxed`: what is needed to kill it, reap it and say what it got."""

    proc: subprocess.Popen
    cgroups: list[str]
    use_ns: bool
    use_net_ns: bool
    root: bool
    limits: dict[str, int]
    memory_cgroup: bool
    pids_cgroup: bool
    nproc_rlimit: bool
    settings: Settings
    gpus: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    status: dict = field(default_factory=dict)  # what the boot reported so far (see `poll_status`)
    oom_killed: bool = False
    status_fd: int = -1
    lifeline_fd: int = -1  # the boot kills the process when this write end closes

    def kill(self) -> None:
        """SIGKILL the whole tree (idempotent)."""
        kill_tree(self.proc, self.cgroups, scan=not self.use_ns)

    def poll_status(self) -> dict:
        """Merge what the boot has written on its status pipe so far, without waiting."""
        if self.status_fd >= 0:
            self.status.update(_parse_status(_read_available(self.status_fd)))
        return self.status

    def stop(self) -> None:
        """Kill, reap, close the pipes and drop the cgroups; then `status` and `oom_killed` are final."""
        if self.proc.returncode is None:
            self.kill()
            self.proc.wait()
        if self.lifeline_fd >= 0:
            os.close(self.lifeline_fd)
            self.lifeline_fd = -1
        self.oom_killed = self.oom_killed or _oom_killed(self.cgroups)
        for cgroup in self.cgroups:
            _drop_cgroup(cgroup)
        self.cgroups = []
        if self.status_fd >= 0:
            self.poll_status()
            os.close(self.status_fd)
            self.status_fd = -1

    def protections(self, write_limit: bool) -> dict[str, bool]:
        """Which of PROTECTIONS this process got (from the boot's report)."""
        got = self.status.get("got", {})
        cgroups_joined = bool(got.get("cgroups"))
        protections = {
            "process_group": True,
            "kill_tree": self.use_ns or cgroups_joined,
            "cpu_limit": "RLIMIT_CPU" in self.limits,
            "memory_limit": (self.memory_cgroup and cgroups_joined) or "RLIMIT_AS" in self.limits,
            "file_size_limit": "RLIMIT_FSIZE" in self.limits,
            "write_limit": write_limit,
            "process_limit": (self.pids_cgroup and cgroups_joined and self.settings.sandbox_max_procs > 0)
            or self.nproc_rlimit,
            "clean_env": True,
            "read_only_fs": bool(got.get("read_only_fs")),
            "home_hidden": bool(got.get("home_hidden")),
            "private_tmp": bool(got.get("private_tmp")),
            # IPC+UTS ns, and the host's sockets in bound folders covered
            "ipc_isolated": self.use_ns and bool(got.get("home_hidden")) and bool(got.get("sockets_hidden")),
            "no_network": self.use_net_ns,
            "no_root": bool(got.get("no_root")) or not self.root,
            "no_capabilities": bool(got.get("no_capabilities")) or not self.root,
            "own_keyring": bool(got.get("own_keyring")),
        }
        return {k: protections[k] for k in PROTECTIONS}


def start_sandboxed(argv: list[str], *, cwd: Path, writable: list[Path], home: Path, settings: Settings,
                    namespaces: bool = True, readable: list[Path] | None = None, stdin: int | None = None,
                    stdout: int | None = None, stderr: int | None = None) -> Sandboxed:
    """Start argv under every protection this machine allows and return at once (the caller owns its life).

    Only `writable`, `readable` (read-only), the system paths and the interpreter are visible; stdin/stdout/
    stderr are as for Popen. Always end it with `Sandboxed.stop`.
    """
    caps = detect()
    use_ns = bool(namespaces and caps.unshare)
    use_net_ns = use_ns and caps.network_ns and not settings.sandbox_network
    root = os.geteuid() == 0
    home.mkdir(parents=True, exist_ok=True)
    tmpdir = "/tmp" if use_ns else str(home.parent / "tmp")
    os.makedirs(tmpdir, exist_ok=True)
    gpus, bad_gpus = select_gpus(settings.sandbox_gpus, caps.gpus)
    warnings = [bad_gpus] if bad_gpus else []
    env = clean_env(settings, str(home), tmpdir, gpus if caps.gpus else None)  # also the boot's
    memory = settings.sandbox_memory_mb * MB if settings.sandbox_memory_mb > 0 else 0
    cgroups = _make_cgroups(settings, memory)
    memory_cgroup = _limited(cgroups, "memory.max") or _limited(cgroups, "memory.limit_in_bytes")
    limits: dict[str, int] = {"RLIMIT_CORE": 0} if caps.rlimits else {}
    wanted = {"cpu_limit": ("RLIMIT_CPU", settings.sandbox_cpu_seconds),
              "memory_limit": ("RLIMIT_AS", 0 if memory_cgroup else memory),
              "file_size_limit": ("RLIMIT_FSIZE", settings.sandbox_file_size_mb * MB)}
    if wanted["memory_limit"][1] and gpus:
        wanted["memory_limit"] = ("RLIMIT_AS", 0)
        warnings.append("Memory limit not applied: this run sees GPUs and only an address-space limit is "
                     "possible here, which breaks CUDA (the user can give agent-scientist a memory cgroup, "
                     "or set sandbox_gpus = none).")
    for name, value in wanted.values():
        if caps.rlimits and value > 0:
            limits[name] = int(value)
    pids_cgroup = bool(caps.cgroup_base) and any(cg.startswith(caps.cgroup_base + "/") for cg in cgroups)
    nproc_rlimit = not pids_cgroup and caps.rlimits and not root and settings.sandbox_max_procs > 0
    if nproc_rlimit:
        limits["RLIMIT_NPROC"] = settings.sandbox_max_procs
    if not use_ns:
        _hide_own_proc()
    uid = SANDBOX_UID if root else -1
    if root and not use_ns and not all(reachable_by_others(p) for p in (argv[0], str(cwd), *map(str, readable or []))):
        uid = -1  # no namespace to re-root into, and uid SANDBOX_UID could not even start the interpreter
        warnings.append(f"Runs as root with no capabilities: {argv[0]} or {cwd} is in a folder other users "
                     "cannot enter.")
    if root:  # the writable folders belong to whoever the experiment runs as
        hand_over(writable, max(uid, 0))
    expose = [(p, False) for p in SYSTEM_PATHS + tuple(interpreter_paths(argv[0], env))]
    expose += [(str(p), False) for p in readable or []]
    expose += [(str(p), True) for p in writable]
    sockets = host_sockets([p for p, _ in expose]) if use_ns else []
    devices = list(DEVICES) + ((caps.gpu_control + [g.node for g in gpus]) if gpus else [])
    status_r, status_w = os.pipe()
    life_r, life_w = os.pipe()  # the boot kills the run when this pipe's write end closes (agent died)
    boot_cfg = {
        "status_fd": status_w, "lifeline_fd": life_r, "parent": os.getpid(), "namespaces": use_ns,
        "network": not use_net_ns, "cgroups": cgroups, "uid": uid,
        "expose": expose, "devices": devices, "tmp_mb": max(64, settings.sandbox_file_size_mb),
        "shm_mb": max(64, settings.sandbox_memory_mb // 2), "rlimits": limits, "cwd": str(cwd), "argv": argv,
        "env": env, "sockets": sockets,
    }
    command = [sys.executable, "-I", "-S", str(BOOT), marshal.dumps(boot_cfg).hex()]
    if use_ns:
        command = [caps.unshare, *ns_flags(), *(["--net"] if use_net_ns else []), "--", *command]
    try:
        proc = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=stderr,
                                pass_fds=(status_w, life_r), start_new_session=True, cwd=cwd, env=env)
    except BaseException:
        for fd in (status_r, status_w, life_r, life_w):
            os.close(fd)
        for cgroup in cgroups:
            _drop_cgroup(cgroup)
        raise
    os.close(status_w)
    os.close(life_r)
    return Sandboxed(proc, cgroups, use_ns, use_net_ns, root, limits, memory_cgroup, pids_cgroup, nproc_rlimit,
                     settings, gpus, warnings, status_fd=status_r, lifeline_fd=life_w)


def run_sandboxed(argv: list[str], *, cwd: Path, workspace: Path, writable: list[Path], home: Path,
                  settings: Settings, timeout: float, out_dir: Path, tail_bytes: int = 64 * 1024,
                  namespaces: bool = True) -> SandboxResult:
    """Run argv under every protection this machine allows; never raises for the child's behaviour.

    Only `writable` (and the interpreter, read-only) of `workspace` and the machine is visible.
    `namespaces=False` forces the degraded mode (used by tests to cover it).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    disk_bytes = max(1, settings.sandbox_file_size_mb) * MB
    started = time.monotonic()
    timed_out = interrupted = False
    box = watch = None
    try:
        box = start_sandboxed(argv, cwd=cwd, writable=writable, home=home, settings=settings,
                              namespaces=namespaces, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        proc = box.proc
        out = Capture(proc.stdout, out_dir / "stdout.txt", tail_bytes, disk_bytes)
        err = Capture(proc.stderr, out_dir / "stderr.txt", tail_bytes, disk_bytes)
        if settings.sandbox_write_mb > 0 or settings.sandbox_write_files > 0:
            watch = WriteWatch(writable, settings.sandbox_write_mb * MB, settings.sandbox_write_files, box.kill)
        try:
            _wait(proc, max(0.1, timeout))
        except subprocess.TimeoutExpired:
            timed_out = True
        except KeyboardInterrupt:
            interrupted = True
        box.kill()
        proc.wait()
        out.finish()
        err.finish()
    finally:
        if watch:
            watch.finish()
        if box is not None:  # also when an exception escaped: leave nothing running
            box.stop()
    duration = time.monotonic() - started
    status = box.status
    notes = list(status.get("notes", []))
    if status.get("fatal"):
        notes.insert(0, f"sandbox setup failed: {status['fatal']}")
    exit_code = status.get("exit", proc.returncode)
    if timed_out or interrupted:
        exit_code = None
    stopped = ""
    if watch and watch.hit:  # every process of the run is dead by now: nothing races the clean-up
        stopped = f"Stopped by the sandbox: {watch.hit} into its folders; {watch.clean(out_dir)}"
    return SandboxResult(exit_code, timed_out, interrupted, round(duration, 3), out, err,
                         box.protections(watch is not None), notes, [g.describe() for g in box.gpus],
                         stopped, box.oom_killed, box.warnings)


def _read_available(fd: int) -> bytes:
    """What can be read from `fd` now, without waiting."""
    chunks = []
    os.set_blocking(fd, False)
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_status(data: bytes) -> dict:
    """Merge the lines the boot wrote: what it enforced, then (namespaces) the exit status."""
    status: dict = {}
    for line in data.splitlines():
        try:
            record = ast.literal_eval(line.decode("utf-8", "replace"))
        except (ValueError, SyntaxError):
            continue
        if isinstance(record, dict):
            status.update(record)
    return status
