"""The process sandbox for untrusted experiment code.

Owns how a command is started (own session and process group; on Linux new user, mount, PID and
network namespaces through util-linux `unshare`, a pids cgroup, resource limits, a clean
environment, a read-only machine with only the workspace writable), how its output is captured
(bounded tail in memory, streamed to disk), and how the whole tree is killed on timeout or Ctrl-C.
Where the kernel refuses a protection the run still happens and the result says what was missing.
"""

from __future__ import annotations

import ast
import contextlib
import marshal
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent_scientist.config import Settings

MB = 1024 * 1024
BOOT = Path(__file__).with_name("boot.py")
PROTECTIONS = ("process_group", "kill_tree", "cpu_limit", "memory_limit", "file_size_limit", "process_limit",
               "clean_env", "read_only_fs", "home_hidden", "private_tmp", "no_network", "no_capabilities")
_CREDENTIAL_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "AUTH",
                     "COOKIE", "SESSION", "PRIVATE")
_CREDENTIAL_PREFIXES = ("AWS_", "AZURE_", "GOOGLE_", "GCP_", "GCLOUD_", "CLOUDSDK_", "ARM_", "DIGITALOCEAN_",
                        "HEROKU_", "GITHUB_", "GH_", "OPENAI", "ANTHROPIC", "NETRC", "SSH_", "GPG_", "KUBECONFIG",
                        "DOCKER_")
_CGROUP_PREFIX = "agent-scientist-"


def is_credential_like(name: str) -> bool:
    """True for variable names that may hold a secret; these never reach a sandboxed child."""
    upper = name.upper()
    return any(word in upper for word in _CREDENTIAL_WORDS) or upper.startswith(_CREDENTIAL_PREFIXES)


def clean_env(settings: Settings, home: Path, tmpdir: str) -> dict[str, str]:
    """The child's whole environment: minimal PATH, HOME in the workspace, locale, allowed names."""
    python_dir = os.path.dirname(os.path.abspath(settings.sandbox_python))
    env = {
        "PATH": os.pathsep.join(dict.fromkeys([python_dir, "/usr/local/bin", "/usr/bin", "/bin"])),
        "HOME": str(home), "TMPDIR": tmpdir, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
    }
    for name in settings.sandbox_env_allow:
        if name in os.environ and not is_credential_like(name) and name not in env:
            env[name] = os.environ[name]
    return env


@dataclass
class Capabilities:
    """What this machine lets the sandbox enforce, probed once per process."""

    unshare: str = ""  # path of unshare when user+mount+pid namespaces work
    network_ns: bool = False
    cgroup_base: str = ""  # a writable pids cgroup directory
    rlimits: bool = False
    details: dict[str, str] = field(default_factory=dict)


_caps: Capabilities | None = None
_caps_lock = threading.Lock()
_NS_FLAGS = ["--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]


def _probe(argv: list[str]) -> tuple[bool, str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, str(exc)
    return proc.returncode == 0, proc.stderr.strip()[:200]


def _cgroup_base() -> tuple[str, str]:
    v1 = Path("/sys/fs/cgroup/pids")
    if (v1 / "cgroup.procs").exists() and os.access(v1, os.W_OK):
        return str(v1), "cgroup v1 pids controller"
    v2 = Path("/sys/fs/cgroup")
    try:
        if "pids" in (v2 / "cgroup.subtree_control").read_text().split() and os.access(v2, os.W_OK):
            return str(v2), "cgroup v2 pids controller"
    except OSError:
        pass
    return "", "no writable pids cgroup in /sys/fs/cgroup"


def _remove_stale_cgroups(base: str) -> None:
    for path in Path(base).glob(_CGROUP_PREFIX + "*"):
        try:
            owner = int(path.name[len(_CGROUP_PREFIX):].split("-")[0])
            if not Path(f"/proc/{owner}").exists():
                path.rmdir()
        except (ValueError, OSError):
            continue


def detect(refresh: bool = False) -> Capabilities:
    """Probe namespaces, cgroups and rlimits on this machine (cached)."""
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
            ok, err = _probe([unshare, *_NS_FLAGS, "--", true])
            if ok:
                caps.unshare = unshare
                caps.network_ns, err_net = _probe([unshare, *_NS_FLAGS, "--net", "--", true])
                if not caps.network_ns:
                    caps.details["network"] = f"no network namespace: {err_net}"
            else:
                caps.details["namespaces"] = f"unshare refused them: {err}"
        if sys.platform.startswith("linux"):
            caps.cgroup_base, caps.details["cgroup"] = _cgroup_base()
            if caps.cgroup_base:
                _remove_stale_cgroups(caps.cgroup_base)
        _caps = caps
        return caps


class Capture:
    """Reads one pipe to the end: everything to a file (capped), the last bytes kept in memory."""

    def __init__(self, stream, path: Path, tail_bytes: int, disk_bytes: int):
        self.path, self.total, self.saved = path, 0, 0
        self._stream, self._tail_bytes, self._disk_bytes = stream, tail_bytes, disk_bytes
        self.tail = bytearray()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        with open(self.path, "wb") as out:
            fd = self._stream.fileno()
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                self.total += len(chunk)
                room = self._disk_bytes - self.saved
                if room > 0:
                    out.write(chunk[:room])
                    out.flush()
                    self.saved += min(room, len(chunk))
                self.tail += chunk
                if len(self.tail) > 2 * self._tail_bytes:
                    del self.tail[: len(self.tail) - self._tail_bytes]
        del self.tail[: max(0, len(self.tail) - self._tail_bytes)]

    def finish(self, wait: float = 5.0) -> None:
        self.thread.join(wait)
        with contextlib.suppress(OSError):
            self._stream.close()


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


def _hidden_paths() -> list[str]:
    homes = ["/root", "/home", os.path.expanduser("~"), os.environ.get("HOME", "")]
    homes += ["/run/secrets", "/var/run/secrets"]
    return [p for p in dict.fromkeys(os.path.realpath(h) for h in homes if h) if p != "/"]


def _interpreter_dirs(python: str) -> list[str]:
    """Directories the interpreter needs (its prefix, a venv's base), to re-expose if under a home."""
    dirs = []
    for exe in dict.fromkeys([os.path.abspath(python), os.path.realpath(python)]):
        prefix = os.path.dirname(os.path.dirname(exe))
        dirs.append(prefix)
        cfg = Path(prefix) / "pyvenv.cfg"
        with contextlib.suppress(OSError):
            for line in cfg.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "home":
                    dirs.append(os.path.dirname(os.path.realpath(value.strip())))
    return [d for d in dict.fromkeys(dirs) if d != "/"]


def _hide_own_proc() -> None:
    """Make the agent non-dumpable, or a same-user child could read its /proc/<pid>/environ (no PID ns)."""
    if os.geteuid() == 0 or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


def _make_cgroup(base: str, max_procs: int) -> str:
    path = Path(base) / f"{_CGROUP_PREFIX}{os.getpid()}-{time.monotonic_ns()}"
    try:
        path.mkdir()
        (path / "pids.max").write_text(str(max_procs) if max_procs > 0 else "max")
        return str(path)
    except OSError:
        with contextlib.suppress(OSError):
            path.rmdir()
        return ""


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


def _kill_tree(proc: subprocess.Popen, cgroup: str, scan: bool) -> None:
    """SIGKILL the process group, the cgroup's members and (if `scan`) anything else in the session."""
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    victims: set[int] = set()
    if cgroup:
        with contextlib.suppress(OSError):
            victims |= {int(p) for p in Path(cgroup, "cgroup.procs").read_text().split()}
    if scan and sys.platform.startswith("linux"):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[3]) == proc.pid:  # session id
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


def run_sandboxed(argv: list[str], *, cwd: Path, workspace: Path, writable: list[Path], home: Path,
                  settings: Settings, timeout: float, out_dir: Path, tail_bytes: int = 64 * 1024,
                  namespaces: bool = True) -> SandboxResult:
    """Run argv under every protection this machine allows; never raises for the child's behaviour.

    `namespaces=False` forces the degraded mode (used by tests to cover it).
    """
    caps = detect()
    use_ns = bool(namespaces and caps.unshare)
    use_net_ns = use_ns and caps.network_ns and not settings.sandbox_network
    out_dir.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    tmpdir = "/tmp" if use_ns else str(home.parent / "tmp")
    os.makedirs(tmpdir, exist_ok=True)
    limits: dict[str, int] = {"RLIMIT_CORE": 0} if caps.rlimits else {}
    wanted = {"cpu_limit": ("RLIMIT_CPU", settings.sandbox_cpu_seconds, 1),
              "memory_limit": ("RLIMIT_AS", settings.sandbox_memory_mb, MB),
              "file_size_limit": ("RLIMIT_FSIZE", settings.sandbox_file_size_mb, MB)}
    for name, value, scale in wanted.values():
        if caps.rlimits and value > 0:
            limits[name] = int(value * scale)
    cgroup = _make_cgroup(caps.cgroup_base, settings.sandbox_max_procs) if caps.cgroup_base else ""
    nproc_rlimit = not cgroup and caps.rlimits and os.geteuid() != 0 and settings.sandbox_max_procs > 0
    if nproc_rlimit:
        limits["RLIMIT_NPROC"] = settings.sandbox_max_procs
    covered = [*_hidden_paths(), "/tmp", "/dev/shm"]  # what the sandbox mounts over
    env = clean_env(settings, home, tmpdir)  # also the boot's: no process of the run ever holds a secret
    if not use_ns:
        _hide_own_proc()
    status_r, status_w = os.pipe()
    life_r, life_w = os.pipe()  # the boot kills the run when this pipe's write end closes (agent died)
    boot_cfg = {
        "status_fd": status_w, "lifeline_fd": life_r, "parent": os.getpid(), "namespaces": use_ns,
        "network": not use_net_ns, "cgroup": cgroup,
        "ro_keep": [str(workspace)] + [d for d in _interpreter_dirs(argv[0])
                                       if any(d == h or d.startswith(h.rstrip("/") + "/") for h in covered)],
        "rw_keep": [str(p) for p in writable], "hide": _hidden_paths(),
        "tmp_mb": max(64, settings.sandbox_file_size_mb), "shm_mb": max(64, settings.sandbox_memory_mb // 2),
        "rlimits": limits, "cwd": str(cwd), "argv": argv, "env": env,
    }
    command = [sys.executable, "-I", "-S", str(BOOT), marshal.dumps(boot_cfg).hex()]
    if use_ns:
        command = [caps.unshare, *_NS_FLAGS, *(["--net"] if use_net_ns else []), "--", *command]
    disk_bytes = max(1, settings.sandbox_file_size_mb) * MB
    started = time.monotonic()
    timed_out = interrupted = False
    proc = None
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, pass_fds=(status_w, life_r), start_new_session=True,
                                cwd=cwd, env=env)
        os.close(status_w)
        status_w = -1
        out = Capture(proc.stdout, out_dir / "stdout.txt", tail_bytes, disk_bytes)
        err = Capture(proc.stderr, out_dir / "stderr.txt", tail_bytes, disk_bytes)
        try:
            _wait(proc, max(0.1, timeout))
        except subprocess.TimeoutExpired:
            timed_out = True
        except KeyboardInterrupt:
            interrupted = True
        _kill_tree(proc, cgroup, scan=not use_ns)
        proc.wait()
        out.finish()
        err.finish()
    finally:
        for fd in (status_w, life_r, life_w):
            if fd >= 0:
                os.close(fd)
        if proc is None:
            os.close(status_r)
        if proc is not None and proc.returncode is None:  # an exception escaped: leave nothing running
            _kill_tree(proc, cgroup, scan=not use_ns)
            proc.wait()
        if cgroup:
            _drop_cgroup(cgroup)
    duration = time.monotonic() - started
    status = _read_status(status_r)
    got = status.get("got", {})
    notes = list(status.get("notes", []))
    if status.get("fatal"):
        notes.insert(0, f"sandbox setup failed: {status['fatal']}")
    protections = {
        "process_group": True,
        "kill_tree": use_ns or bool(got.get("process_limit")),
        **{name: wanted[name][0] in limits for name in wanted},
        "process_limit": (bool(got.get("process_limit")) and settings.sandbox_max_procs > 0) or nproc_rlimit,
        "clean_env": True,
        "read_only_fs": bool(got.get("read_only_fs")),
        "home_hidden": bool(got.get("home_hidden")),
        "private_tmp": bool(got.get("private_tmp")),
        "no_network": use_net_ns,
        "no_capabilities": bool(got.get("no_capabilities")) or os.geteuid() != 0,
    }
    protections = {k: protections[k] for k in PROTECTIONS}
    exit_code = status.get("exit", proc.returncode)
    if timed_out or interrupted:
        exit_code = None
    return SandboxResult(exit_code, timed_out, interrupted, round(duration, 3), out, err, protections, notes)


def _read_status(fd: int) -> dict:
    """Merge the lines the boot wrote: what it enforced, then (namespaces) the exit status."""
    chunks = []
    try:
        os.set_blocking(fd, False)
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    status: dict = {}
    for line in b"".join(chunks).splitlines():
        try:
            record = ast.literal_eval(line.decode("utf-8", "replace"))
        except (ValueError, SyntaxError):
            continue
        if isinstance(record, dict):
            status.update(record)
    return status
