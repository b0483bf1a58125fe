"""Findings 3, 4, 5 and 7 of issue 21, each tried for real against the sandbox (run as root in CI).

3: a race between the agent handing files/ to the experiment's uid and an experiment swapping folders and
symlinks must not make root chown a host file; 4: the agent's session keyring is out of reach; 5: blocks
allocated (fallocate) count toward the write cap and nothing past the cap stays; 7: a host socket under an
exposed read-only path cannot be connected to.
"""

from __future__ import annotations

import ctypes
import os
import platform
import socket
import sys
import threading
from pathlib import Path

import pytest
from support.lab import lab, missing, script, token

from agent_scientist.experiments.runner import run_script
from agent_scientist.sandbox import detect

HAVE_NS = bool(detect().unshare)
needs_ns = pytest.mark.needs_sandbox(HAVE_NS, "user namespaces")
MODES = [pytest.param(True, id="namespaces", marks=needs_ns), pytest.param(False, id="degraded")]
_KEYCTL = {"x86_64": (248, 250), "aarch64": (217, 219)}.get(platform.machine())  # add_key, keyctl


def _add_session_key(description: str, payload: bytes) -> int:
    """A `user` key in this process's session keyring (KEY_SPEC_SESSION_KEYRING), as an agent might hold."""
    if _KEYCTL is None:
        pytest.skip(f"no keyctl syscall numbers for {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    serial = libc.syscall(_KEYCTL[0], b"user", description.encode(), payload, len(payload), -3)
    if serial < 0:
        missing(f"a session keyring (add_key: {os.strerror(ctypes.get_errno())})")
    return serial


@pytest.mark.parametrize("ns", MODES)
def test_the_agents_session_keyring_is_out_of_reach(home: Path, ns: bool) -> None:
    mark = token()
    serial = _add_session_key(mark, b"sk-keyring-secret")
    ctx = lab(home)
    script(ctx, "keys.py", f"""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        found = libc.syscall({_KEYCTL[1]}, 10, -3, b"user", {mark.encode()!r}, 0)  # KEYCTL_SEARCH in @s
        print("search", found, os.strerror(ctypes.get_errno()) if found < 0 else "")
        for key in {{found, {serial}}}:
            buf = ctypes.create_string_buffer(256)
            size = libc.syscall({_KEYCTL[1]}, 11, key, buf, 256)  # KEYCTL_READ
            print("read", key, size, buf.raw[:max(size, 0)])
    """)
    result = run_script(ctx, "keys.py", timeout=60, namespaces=ns)
    assert result["exit_code"] == 0, result
    assert "search -1" in result["stdout"], result["stdout"]
    assert "sk-keyring-secret" not in result["stdout"], result["stdout"]


@pytest.mark.parametrize("ns", MODES)
def test_allocated_blocks_count_and_nothing_past_the_cap_stays(home: Path, ns: bool) -> None:
    ctx = lab(home, sandbox_write_mb=20)
    (ctx.ws.files_dir / "before.bin").write_bytes(b"k" * 4096)  # the user's: never removed
    script(ctx, "alloc.py", """
        import os, time
        for i in range(4):
            fd = os.open(f"big{i}.bin", os.O_CREAT | os.O_WRONLY, 0o644)
            os.posix_fallocate(fd, 0, 300 * 1024 * 1024)
            os.close(fd)
        print("allocated", flush=True)
        time.sleep(30)
    """)
    result = run_script(ctx, "alloc.py", timeout=60, namespaces=ns)
    assert "Stopped by the sandbox" in result["note"] and "20 MB" in result["note"], result["note"]
    used = sum(p.stat().st_blocks * 512 for p in ctx.ws.files_dir.rglob("*") if p.is_file())
    assert used < 21 * 1024 * 1024, f"{used / 1e6:.0f} MB stayed in files/"
    assert (ctx.ws.files_dir / "before.bin").read_bytes() == b"k" * 4096
    assert "removed" in result["note"] and "big" in result["note"], result["note"]


_SWAPPER = """
import ctypes, os, platform, sys, time
libc = ctypes.CDLL(None, use_errno=True)
number = {"x86_64": 316, "aarch64": 276}[platform.machine()]  # renameat2
a, b, end = sys.argv[1].encode(), sys.argv[2].encode(), time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    libc.syscall(number, -100, a, -100, b, 2)  # AT_FDCWD, RENAME_EXCHANGE
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the hand-over happens only when the agent is root")
def test_handing_files_over_races_no_symlink_into_a_host_file(tmp_path: Path) -> None:
    """Finding 3: while an experiment swaps a folder and a symlink to a host folder, the hand-over
    (root chowning files/ to the experiment's uid) must never change a host file's owner."""
    import subprocess

    from agent_scientist.sandbox.tree import hand_over

    if platform.machine() not in ("x86_64", "aarch64"):
        pytest.skip("renameat2 syscall number unknown here")
    host = tmp_path / "host"
    host.mkdir()
    names = [f"f{i}" for i in range(40)]
    for name in names:
        (host / name).write_text("root only")
        os.chmod(host / name, 0o600)
    files = tmp_path / "files"
    (files / "d").mkdir(parents=True)
    for name in names:
        (files / "d" / name).write_text("mine")
    os.symlink(host, files / "l")
    swapper = subprocess.Popen([sys.executable, "-c", _SWAPPER, str(files / "d"), str(files / "l"), "20"])
    try:
        for _ in range(400):
            hand_over([files], 65534)
            owners = {(host / n).stat().st_uid for n in names} | {host.stat().st_uid}
            assert owners == {0}, "root chowned a host file through a swapped symlink"
            if swapper.poll() is not None:
                break
    finally:
        swapper.kill()
        swapper.wait()


@needs_ns
def test_a_host_socket_under_an_exposed_read_only_path_cannot_be_reached(home: Path) -> None:
    """Finding 7: a listening socket inside the interpreter's prefix (mounted read-only) accepted an
    experiment's connection; `doctor` said there was no socket outside files/."""
    import shutil

    folder = Path(sys.prefix) / f"{token()}-sockets"  # the sandbox's interpreter is this one
    folder.mkdir()
    heard: list[bytes] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.chmod(folder, 0o777)
        server.bind(str(folder / "host.sock"))
        os.chmod(folder / "host.sock", 0o777)
        server.listen(4)
        server.settimeout(30)

        def serve() -> None:
            try:
                conn, _ = server.accept()
                heard.append(conn.recv(100))
                conn.close()
            except OSError:
                pass

        threading.Thread(target=serve, daemon=True).start()
        ctx = lab(home)
        script(ctx, "knock.py", f"""
            import socket
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect({str(folder / "host.sock")!r})
                s.sendall(b"from the experiment")
                print("connected")
            except OSError as exc:
                print("refused", exc)
        """)
        result = run_script(ctx, "knock.py", timeout=60)
        assert result["exit_code"] == 0, result
        assert "refused" in result["stdout"] and not heard, (result["stdout"], heard)
        assert result["protections"]["ipc_isolated"]
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_doctor_says_how_host_sockets_are_kept_away(settings) -> None:
    from agent_scientist.sandbox.report import protection_report

    ok, detail = protection_report(settings)["ipc_isolated"]
    assert "no socket file outside files/" not in detail
    if ok:
        assert "sockets" in detail and "covered" in detail
