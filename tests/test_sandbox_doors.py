"""Round two against the real sandbox: host root, side doors, what is visible, and limits that add up.

CI runs these as root, the dangerous case. A protection missing here skips the test, or fails it under
AGENT_SCIENTIST_REQUIRE_SANDBOX=1.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from support.lab import lab, script, token

from agent_scientist.experiments.runner import run_script
from agent_scientist.sandbox import SANDBOX_UID, detect

HAVE_NS = bool(detect().unshare)
needs_ns = pytest.mark.needs_sandbox(HAVE_NS, "user namespaces")
needs_memcg = pytest.mark.needs_sandbox(detect().memory is not None, "a memory cgroup (root or delegated)")


@pytest.fixture
def outside_tmp():
    """A workspace home that is not under /tmp or a home directory (e.g. /srv/ws), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="astest-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@needs_ns
def test_root_in_the_sandbox_is_not_host_root(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "root.py", """
        import os
        print("uid", os.getuid(), os.geteuid())
        for path, mode in [("/etc/shadow", "r"), ("/proc/sys/kernel/core_pattern", "w"),
                           ("/proc/sys/kernel/hostname", "w")]:
            try:
                open(path, mode).close()
                print("opened", path)
            except OSError as exc:
                print("refused", path, exc.strerror)
        open("mine.txt", "w").write("files/ stays writable")
    """)
    result = run_script(ctx, "root.py", timeout=60)
    out = result["stdout"]
    assert result["exit_code"] == 0 and "opened" not in out, out
    assert out.count("refused") == 3 and result["artifacts"] == ["mine.txt"]
    if os.geteuid() == 0:  # a root agent's experiment is an unprivileged uid, not uid 0 mapped to root
        assert out.startswith(f"uid {SANDBOX_UID} {SANDBOX_UID}")
    assert result["protections"]["no_root"] is True


@needs_ns
def test_unix_sockets_outside_files_are_unreachable(home: Path) -> None:
    ctx = lab(home)
    paths = [ctx.ws.root / "agent.sock", home / "host.sock"]  # beside files/, and in the workspace home
    servers = []
    for path in paths:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.listen()
        os.chmod(path, 0o777)
        servers.append(server)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0" + token())  # abstract sockets live in the network namespace
    abstract.listen()
    targets = [str(p) for p in paths] + [abstract.getsockname()]
    script(ctx, "sock.py", f"""
        import socket
        for target in {targets!r}:
            try:
                socket.socket(socket.AF_UNIX).connect(target)
                print("connected", repr(target))
            except OSError as exc:
                print("refused", exc.strerror)
    """)
    try:
        result = run_script(ctx, "sock.py", timeout=60)
    finally:
        for server in [*servers, abstract]:
            server.close()
    assert result["exit_code"] == 0 and "connected" not in result["stdout"], result["stdout"]
    lines = result["stdout"].splitlines()
    assert len(lines) == 3 and all(line.startswith("refused") for line in lines)
    assert result["protections"]["ipc_isolated"] is True


def _shm(key: int, size: int, flags: int) -> int:
    return ctypes.CDLL(None, use_errno=True).shmget(ctypes.c_int(key), ctypes.c_size_t(size), ctypes.c_int(flags))


@needs_ns
def test_system_v_shared_memory_is_private_and_gone_after_the_run(home: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    host_key, run_key = (0x5A000000 | (os.getpid() & 0xFFFF), 0x5B000000 | (os.getpid() & 0xFFFF))
    host_id = _shm(host_key, 4096, 0o1600)  # IPC_CREAT | 0600
    assert host_id >= 0
    ctx = lab(home)
    script(ctx, "ipc.py", f"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        print("host segment", libc.shmget(ctypes.c_int({host_key}), ctypes.c_size_t(0), 0))
        print("own segment", libc.shmget(ctypes.c_int({run_key}), ctypes.c_size_t(1 << 20), 0o1666))
        print(open("/proc/sysvipc/shm").read().count("\\n") - 1, "segments visible")
    """)
    try:
        result = run_script(ctx, "ipc.py", timeout=60)
    finally:
        libc.shmctl(host_id, 0, None)  # IPC_RMID
    lines = result["stdout"].splitlines()
    assert lines[0] == "host segment -1" and int(lines[1].split()[-1]) >= 0, result
    assert lines[2] == "1 segments visible"  # its own only
    assert _shm(run_key, 0, 0) == -1  # nothing outlives the run


@needs_ns
def test_sibling_workspaces_are_hidden_under_any_home(outside_tmp: Path) -> None:
    other = outside_tmp / "other" / "files"
    other.mkdir(parents=True)
    (other / "secret.txt").write_text("sibling secret")
    ctx = lab(outside_tmp)
    script(ctx, "peek.py", """
        import os
        try:
            print(open("../../other/files/secret.txt").read())
        except OSError as exc:
            print("refused", exc.strerror)
        print(sorted(os.listdir("../..")))
    """)
    result = run_script(ctx, "peek.py", timeout=60)
    assert "sibling secret" not in result["stdout"], result
    assert result["stdout"].splitlines() == ["refused No such file or directory", "['lab']"]


@needs_ns
def test_interpreter_under_a_home_does_not_expose_the_home(outside_tmp: Path) -> None:
    user = outside_tmp / "user"
    (user / ".ssh").mkdir(parents=True)
    (user / ".ssh" / "id_rsa").write_text("PRIVATE KEY")
    (user / "bin").mkdir()
    os.symlink(os.path.realpath(sys.executable), user / "bin" / "python")  # ~/bin/python
    ctx = lab(outside_tmp / "ws", sandbox_python=str(user / "bin" / "python"))
    script(ctx, "peek.py", f"""
        import os, sys
        print(sys.executable)
        try:
            print(open({str(user / '.ssh' / 'id_rsa')!r}).read())
        except OSError as exc:
            print("refused", exc.strerror)
        print(sorted(os.listdir({str(user)!r})))
    """)
    result = run_script(ctx, "peek.py", timeout=60)
    assert result["exit_code"] == 0 and "PRIVATE KEY" not in result["stdout"], result
    assert result["stdout"].splitlines()[1:] == ["refused No such file or directory", "['bin']"]


@needs_ns
@needs_memcg
def test_children_together_cannot_pass_the_memory_limit(home: Path) -> None:
    ctx = lab(home, sandbox_memory_mb=200)
    script(ctx, "kids.py", """
        import subprocess, sys
        code = "import time; b = bytearray(150 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); " \\
               "time.sleep(2); print('held', flush=True)"
        kids = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
        print(sum(k.communicate()[0].count("held") for k in kids), "children held 150 MB")
    """)
    result = run_script(ctx, "kids.py", timeout=120)
    held = int(result["stdout"].split()[0]) if result["stdout"][:1].isdigit() else 0
    assert held < 3 and result["protections"]["memory_limit"] is True, result


@needs_memcg
def test_mapping_16_gb_without_touching_it_runs_under_the_default_limit(home: Path) -> None:
    # what CUDA does at start-up: the address-space limit used to kill it, a memory cgroup does not
    ctx = lab(home)
    assert ctx.settings.sandbox_memory_mb == 4096
    script(ctx, "map.py", """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        addr = libc.mmap(None, 16 << 30, 3, 0x22 | 0x4000, -1, 0)  # RW, PRIVATE|ANONYMOUS|NORESERVE
        print("mapped" if addr not in (None, ctypes.c_void_p(-1).value) else f"failed {ctypes.get_errno()}")
    """)
    result = run_script(ctx, "map.py", timeout=60)
    assert result["stdout"].strip() == "mapped", result
    assert result["protections"]["memory_limit"] is True


@pytest.mark.parametrize("kind", ["bytes", "files"])
def test_a_run_that_writes_past_the_total_cap_is_stopped(home: Path, kind: str) -> None:
    ctx = lab(home, sandbox_write_mb=2, sandbox_write_files=200)
    script(ctx, "fill.py", f"""
        import os, time
        os.makedirs("out", exist_ok=True)
        for i in range(4000):  # 1 MB files, or empty ones: each under every per-file limit
            with open(f"out/{{i}}.bin", "wb") as fh:
                fh.write(b"x" * (1024 * 1024 if {kind == 'bytes'} else 0))
            time.sleep(0.002)
        time.sleep(30)
    """)
    result = run_script(ctx, "fill.py", timeout=90)
    what = "it wrote more than 2 MB" if kind == "bytes" else "it created more than 200 files and folders"
    assert result["timed_out"] is False and result["exit_code"] != 0, result
    assert f"Stopped by the sandbox: {what} into its folders" in result["note"]
    assert ctx.ws.runs()[-1]["stopped"] == "write limit" and result["duration_s"] < 30
    assert not (ctx.ws.files_dir / "out").exists()  # what the run added is gone (issue 21, finding 5)
    assert "removed 1 file(s) and folder(s) it created (out)" in result["note"], result["note"]


@needs_ns
@needs_memcg
def test_memory_limit_counts_tmp(home: Path) -> None:
    ctx = lab(home, sandbox_memory_mb=200, sandbox_file_size_mb=1024)
    script(ctx, "tmpfill.py", """
        for i in range(8):
            with open(f"/tmp/fill{i}", "wb") as fh:
                for _ in range(50):
                    fh.write(b"x" * (1024 * 1024))
        print("wrote 400 MB to /tmp")
    """)
    result = run_script(ctx, "tmpfill.py", timeout=60)
    assert "wrote 400 MB" not in result["stdout"], result


def test_agent_threads_survive_a_run(home: Path) -> None:
    # the write watch is a thread of the agent: it must end with the run
    before = threading.active_count()
    ctx = lab(home)
    script(ctx, "noop.py", "pass\n")
    run_script(ctx, "noop.py", timeout=60)
    assert threading.active_count() == before
