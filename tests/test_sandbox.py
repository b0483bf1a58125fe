"""Hostile experiment code, run for real in the sandbox: each case ends cleanly and leaves nothing behind.

Cases marked with both modes also run in the degraded mode (no namespaces) the sandbox falls back to.
"""

from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.lab import LEAK_DRIVER, alive, ancestors, lab, missing, procs_with, script, start_driver, token

from agent_scientist.experiments.runner import run_script
from agent_scientist.sandbox import PROTECTIONS, detect, is_credential_like
from agent_scientist.sandbox.report import doctor_checks

HAVE_NS = bool(detect().unshare)
needs_ns = pytest.mark.needs_sandbox(HAVE_NS, "user namespaces")  # skips, or fails when the sandbox is required
MODES = [pytest.param(True, id="namespaces", marks=needs_ns), pytest.param(False, id="degraded")]


@pytest.fixture(autouse=True)
def no_leftover_cgroup():
    """Every run's pids cgroup is removed, whatever the experiment did."""
    yield
    base = detect().cgroup_base
    assert not base or not list(Path(base).glob(f"agent-scientist-{os.getpid()}-*"))


@pytest.mark.parametrize("ns", MODES)
def test_infinite_loop_times_out_and_whole_group_dies(home: Path, ns: bool) -> None:
    ctx, mark = lab(home), token()
    script(ctx, "loop.py", f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "while True: pass", "{mark}"])
        print("looping", flush=True)
        while True:
            time.sleep(0.01)
    """)
    result = run_script(ctx, "loop.py", args=mark, timeout=2, namespaces=ns)
    assert result["timed_out"] is True and result["exit_code"] is None
    assert "Timed out after 2 s" in result["note"] and "looping" in result["stdout"]
    assert procs_with(mark) == []
    assert ctx.ws.runs()[-1]["timed_out"] is True


@pytest.mark.parametrize("ns", MODES)
def test_fork_bomb_is_bounded_by_the_process_limit(home: Path, ns: bool) -> None:
    ctx, mark = lab(home, sandbox_max_procs=12), token()
    script(ctx, "bomb.py", """
        import os, time
        made, error = 0, ""
        for _ in range(60):  # a bounded loop of forks: safe even if no limit applied
            try:
                pid = os.fork()
            except OSError as exc:
                error = str(exc)
                break
            if pid == 0:
                time.sleep(120)
                os._exit(0)
            made += 1
        print("made", made, "error", error)
    """)
    result = run_script(ctx, "bomb.py", args=mark, timeout=60, namespaces=ns)
    if not result["protections"]["process_limit"]:
        missing("a process limit")
    made = int(result["stdout"].split()[1])
    assert made < 12 and "Resource temporarily unavailable" in result["stdout"]
    assert procs_with(mark) == []


@pytest.mark.parametrize("ns", MODES)
def test_memory_hog_hits_the_memory_limit(home: Path, ns: bool) -> None:
    ctx = lab(home, sandbox_memory_mb=300)
    script(ctx, "hog.py", "blocks = [bytearray(100 * 1024 * 1024) for _ in range(40)]\n")
    result = run_script(ctx, "hog.py", timeout=60, namespaces=ns)
    if detect().memory:  # the whole run's memory is limited: the kernel kills it and we say so
        assert result["exit_code"] == -signal.SIGKILL, result
        assert "The memory limit (300 MB for the whole run, /tmp included) was reached" in result["note"]
        assert ctx.ws.runs()[-1]["stopped"] == "memory limit"
    else:  # RLIMIT_AS: the allocation fails inside the process
        assert result["exit_code"] == 1 and "MemoryError" in result["stderr"]
    assert result["protections"]["memory_limit"] is True


@pytest.mark.parametrize("ns", MODES)
def test_disk_filler_hits_the_file_size_limit(home: Path, ns: bool) -> None:
    ctx = lab(home, sandbox_file_size_mb=1)
    script(ctx, "fill.py", """
        with open("fill.bin", "wb") as fh:
            for _ in range(50):
                fh.write(b"0" * 1024 * 1024)
    """)
    result = run_script(ctx, "fill.py", timeout=60, namespaces=ns)
    assert result["exit_code"] == 1 and "File too large" in result["stderr"]
    assert (ctx.ws.files_dir / "fill.bin").stat().st_size <= 1024 * 1024
    assert result["artifacts"] == ["fill.bin"]


def test_cpu_limit_kills_a_busy_loop(home: Path) -> None:
    ctx = lab(home, sandbox_cpu_seconds=1)
    script(ctx, "spin.py", "while True:\n    pass\n")
    result = run_script(ctx, "spin.py", timeout=60)
    assert result["exit_code"] == -signal.SIGXCPU and result["timed_out"] is False
    assert "CPU time limit (1 s)" in result["note"]


@pytest.mark.parametrize("ns", MODES)
def test_api_key_in_environment_never_reaches_the_child(home: Path, monkeypatch, ns: bool) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abc123")
    monkeypatch.setenv("MY_TOKEN", "tok-secret-456")
    monkeypatch.setenv("AWS_REGION_X", "aws-789")
    monkeypatch.setenv("MY_SETTING", "visible-value")
    ctx = lab(home, sandbox_env_allow=["OPENAI_API_KEY", "MY_TOKEN", "AWS_REGION_X", "MY_SETTING"])
    script(ctx, "env.py", """
        import glob, os
        print(sorted(os.environ.items()))
        for path in glob.glob("/proc/*/environ"):  # other processes' environments, e.g. the parent's
            try:
                data = open(path, "rb").read()
            except OSError:
                continue
            if b"sk-test" in data:
                print("LEAK", path)
    """)
    result = run_script(ctx, "env.py", timeout=60, namespaces=ns)
    out = result["stdout"]
    assert "visible-value" in out and result["exit_code"] == 0
    assert "tok-secret" not in out and "aws-789" not in out
    assert "sk-test-abc123" not in out.split("LEAK")[0]
    assert "LEAK" not in out  # nor from another process's environment
    assert ("MY_SETTING", "visible-value") in ast.literal_eval(out.splitlines()[0])


@pytest.mark.parametrize("ns", MODES)
def test_no_process_of_the_run_holds_a_secret(home: Path, monkeypatch, ns: bool) -> None:
    # unshare and the boot (PID 1 of the namespace) once inherited the agent's whole environment
    monkeypatch.setenv("OPENAI_API_KEY", "sk-chain-abc123")
    ctx, mark = lab(home), token()
    script(ctx, "wait.py", """
        import os, time
        for _ in range(600):
            if os.path.exists("stop"):
                break
            time.sleep(0.05)
    """)
    done: list[dict] = []
    runner = threading.Thread(target=lambda: done.append(run_script(ctx, "wait.py", args=mark, timeout=60,
                                                                    namespaces=ns)))
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while not procs_with(mark) and time.monotonic() < deadline:
            time.sleep(0.02)
        (pid,) = procs_with(mark)
        chain = ancestors(pid)
        environs = {p: Path(f"/proc/{p}/environ").read_bytes() for p in chain}
    finally:
        (ctx.ws.files_dir / "stop").write_text("")
        runner.join(60)
    assert len(chain) == (3 if ns else 1) and done[0]["exit_code"] == 0
    assert all(b"sk-chain" not in env for env in environs.values())


@pytest.mark.parametrize("ns", MODES)
def test_experiment_cannot_read_the_agents_environment(home: Path, ns: bool) -> None:
    # the agent really started with the key, so /proc/<agent>/environ holds it
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "OPENAI_API_KEY": "sk-agent-777"}
    proc = subprocess.run([sys.executable, "-c", LEAK_DRIVER, str(home), "1" if ns else "0"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert "scanned" in proc.stdout and "LEAK" not in proc.stdout, proc.stdout + proc.stderr


def test_credential_names() -> None:
    for name in ("OPENAI_API_KEY", "HF_TOKEN", "DB_PASSWORD", "AWS_ACCESS_KEY_ID", "GOOGLE_APPLICATION_CREDENTIALS",
                 "AZURE_CLIENT_SECRET", "ANTHROPIC_API_KEY", "GITHUB_TOKEN", "SSH_AUTH_SOCK", "MY_SECRET"):
        assert is_credential_like(name), name
    for name in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MY_SETTING", "PYTHONHASHSEED"):
        assert not is_credential_like(name), name


@needs_ns
def test_secrets_in_home_directories_are_hidden(home: Path, tmp_path: Path, monkeypatch) -> None:
    mark = token()
    fake_home = tmp_path / "fakehome"
    fake_home.mkdir()
    (fake_home / ".netrc").write_text(f"password {mark}-netrc\n")
    monkeypatch.setenv("HOME", str(fake_home))
    root_secret = Path("/root") / f".{mark}"
    can_use_root = os.access("/root", os.W_OK)
    if can_use_root:
        root_secret.write_text(f"{mark}-root\n")
    try:
        ctx = lab(home)
        script(ctx, "peek.py", f"""
            for path in [{str(fake_home / '.netrc')!r}, {str(root_secret)!r}]:
                try:
                    print(open(path).read())
                except OSError as exc:
                    print("refused", type(exc).__name__)
        """)
        result = run_script(ctx, "peek.py", timeout=60)
    finally:
        root_secret.unlink(missing_ok=True)
    assert mark not in result["stdout"] and result["stdout"].count("refused FileNotFoundError") == 2
    assert result["protections"]["home_hidden"] is True


@pytest.mark.parametrize(("ns", "new_session"), [pytest.param(True, True, id="namespaces-setsid",
                                                              marks=needs_ns),
                                                 pytest.param(False, False, id="degraded")])
def test_grandchild_that_outlives_its_parent_is_killed(home: Path, ns: bool, new_session: bool) -> None:
    ctx, mark = lab(home), token()
    script(ctx, "orphan.py", f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
            "import time\\nfor _ in range(2000):\\n    open('beat', 'a').write('x'); time.sleep(0.05)",
            "{mark}"], start_new_session={new_session})
        while not os.path.exists("beat"):
            time.sleep(0.01)
        print("grandchild", child.pid)
    """)
    result = run_script(ctx, "orphan.py", timeout=60, namespaces=ns)
    assert result["exit_code"] == 0 and "grandchild" in result["stdout"]
    assert procs_with(mark) == []
    if not ns:  # without a PID namespace the printed pid is a host pid: check it directly
        assert not alive(int(result["stdout"].split()[1]))
    beat = ctx.ws.files_dir / "beat"
    size = beat.stat().st_size
    time.sleep(0.3)
    assert beat.stat().st_size == size


@needs_ns
def test_writing_outside_the_workspace_is_refused(home: Path) -> None:
    ctx, mark = lab(home), token()
    ws = ctx.ws
    meta_before = ws.meta_path.read_bytes()
    targets = [ws.meta_path, ws.runs_path, ws.root.parent / f"{mark}.txt", Path("/tmp") / f"{mark}.txt",
               Path("/etc") / f"{mark}.txt", Path(sys.prefix) / f"{mark}.txt", ws.root / "edits" / "x"]
    script(ctx, "escape.py", f"""
        import os
        for path in {[str(t) for t in targets]!r}:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "a") as fh:
                    fh.write("pwned")
                print("wrote", path)
            except OSError as exc:
                print("refused", path, exc.strerror)
        open("inside.txt", "w").write("fine")
    """)
    result = run_script(ctx, "escape.py", timeout=60)
    assert result["exit_code"] == 0 and result["artifacts"] == ["inside.txt"]
    assert ws.meta_path.read_bytes() == meta_before
    assert all(not t.exists() for t in targets[2:]), result["stdout"]
    assert "pwned" not in ws.runs_path.read_text()
    assert f"wrote /tmp/{mark}.txt" in result["stdout"]  # the private /tmp works, and vanishes
    # (the workspace's parent is under /tmp in tests, so that write lands in the private /tmp too)
    for target in (ws.meta_path, ws.runs_path, targets[4], targets[5], targets[6]):
        line = next(x for x in result["stdout"].splitlines() if x.startswith(f"refused {target} "))
        assert line.endswith(("Read-only file system", "Permission denied")), line  # as the agent's user / nobody


@pytest.mark.parametrize("allow", [False, True])
def test_network_is_off_unless_allowed(home: Path, allow: bool) -> None:
    if not (HAVE_NS and detect().network_ns):
        missing("a network namespace")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[bool] = []
    threading.Thread(target=lambda: accepted.append(bool(server.accept())), daemon=True).start()
    ctx = lab(home, sandbox_network=allow)
    script(ctx, "net.py", f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
            print("connected")
        except OSError as exc:
            print("blocked", exc)
    """)
    result = run_script(ctx, "net.py", timeout=60)
    server.close()
    assert result["stdout"].startswith("connected" if allow else "blocked")
    assert result["protections"]["no_network"] is (not allow)


def test_stdin_is_closed_and_cwd_is_files(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "io.py", "import os, sys\nprint(repr(sys.stdin.read()), os.getcwd())\n")
    result = run_script(ctx, "io.py", timeout=60)
    assert result["stdout"].strip() == f"'' {ctx.ws.files_dir}"


def test_configured_interpreter_from_a_venv(home: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    ctx = lab(home, sandbox_python=str(venv / "bin" / "python"))
    script(ctx, "which.py", "import sys\nprint(sys.prefix)\n")
    result = run_script(ctx, "which.py", timeout=60)
    assert result["stdout"].strip() == str(venv), result
    assert ctx.ws.runs()[-1]["command"][0] == str(venv / "bin" / "python")


@pytest.mark.parametrize("ns", MODES)
def test_ctrl_c_kills_the_whole_group_and_records_the_run(home: Path, ns: bool) -> None:
    driver, pids, mark = start_driver(home, ns, grandchild=True)
    try:
        driver.send_signal(signal.SIGINT)
        out, err = driver.communicate(timeout=60)
    finally:
        driver.kill()
    assert driver.returncode == 130 and "interrupted" in out, err
    assert not any(alive(pid) for pid in pids) and procs_with(mark) == []
    record = lab(home).ws.runs()[-1]
    assert record["interrupted"] is True and record["exit_code"] is None


@pytest.mark.parametrize("ns", MODES)
def test_experiment_dies_when_the_agent_is_killed(home: Path, ns: bool) -> None:
    # Without namespaces only the direct child is tied to the agent's life, so no grandchild there.
    driver, pids, mark = start_driver(home, ns, grandchild=ns)
    driver.kill()
    driver.wait(timeout=60)
    deadline = time.monotonic() + 30
    while procs_with(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    leftovers = procs_with(mark)
    for pid in leftovers:  # never leave anything running, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert leftovers == [] and not any(alive(pid) for pid in pids)


def test_doctor_reports_every_protection(settings) -> None:
    checks = doctor_checks(settings)
    names = [name for name, _, _ in checks]
    assert names[0] == "sandbox interpreter" and checks[0][1] is True
    assert names[1:1 + len(PROTECTIONS)] == [f"sandbox {p.replace('_', ' ')}" for p in PROTECTIONS]
    assert names[1 + len(PROTECTIONS)] == "sandbox GPUs"
    assert all(isinstance(ok, bool) and isinstance(detail, str) for _, ok, detail in checks)
    if HAVE_NS:
        assert dict((n, ok) for n, ok, _ in checks)["sandbox read only fs"] is True


def test_doctor_says_what_is_not_enforced_when_namespaces_are_refused(home: Path, tmp_path: Path, cli) -> None:
    from conftest import cli_env

    fake = tmp_path / "bin" / "unshare"  # an unshare that fails as a locked-down kernel makes it fail
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\nexit 1\n")
    fake.chmod(0o755)
    result = cli("doctor", env=cli_env(home, PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}"))
    out = " ".join(result.stdout.split())
    assert ("sandbox read only fs: NOT enforced (experiments can write anywhere your user can): needs user "
            "namespaces (unshare refused them: unshare: unshare failed: Operation not permitted); to fix, "
            "enable unprivileged user namespaces: `sudo sysctl -w") in out, out
    for name in ("home hidden", "private tmp", "no network"):
        assert f"sandbox {name}: NOT enforced (" in out and "needs user namespaces (see the fix above)" in out
    assert "sandbox clean env: credential-like" in out and "sandbox no capabilities: capabilities dropped" in out
    assert "kill tree: pids cgroup" in out or "kill tree: NOT enforced (a grandchild" in out


@needs_ns
def test_workspace_inside_the_users_home_works_and_the_rest_of_home_is_hidden(tmp_path: Path, monkeypatch) -> None:
    fake_home = tmp_path / "user"
    fake_home.mkdir()
    (fake_home / ".netrc").write_text("password hunter2\n")
    monkeypatch.setenv("HOME", str(fake_home))
    ctx = lab(fake_home / "agent-scientist")  # the home's tmpfs must not hide the workspace itself
    script(ctx, "peek.py", f"""
        import os
        try:
            print(open({str(fake_home / '.netrc')!r}).read())
        except OSError as exc:
            print("refused", exc.strerror)
        print(os.listdir({str(fake_home)!r}))
        open("ok.txt", "w").write("written")
    """)
    result = run_script(ctx, "peek.py", timeout=60)
    assert result["exit_code"] == 0 and "hunter2" not in result["stdout"], result
    assert result["stdout"].splitlines() == ["refused No such file or directory", "['agent-scientist']"]
    assert result["artifacts"] == ["ok.txt"] and (ctx.ws.files_dir / "ok.txt").read_text() == "written"


@pytest.mark.parametrize("ns", MODES)
def test_symlinks_planted_by_an_experiment_are_not_followed_by_the_agent(home: Path, tmp_path: Path,
                                                                         ns: bool) -> None:
    # the experiment cannot read these paths, but the agent reading metrics.json or writing runs/<n>/ could
    secret = tmp_path / "credentials.json"
    secret.write_text('{"private_key": "pk-hunter2"}')
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    ctx = lab(home)
    script(ctx, "plant.py", f"""
        import os, shutil
        os.symlink({str(secret)!r}, "metrics.json")
        shutil.rmtree("runs")
        os.symlink({str(outside)!r}, "runs")
    """)
    first = run_script(ctx, "plant.py", timeout=60, namespaces=ns)
    assert first["exit_code"] == 0 and first["metrics"] is None and "metrics.json is a symlink" in first["note"]
    script(ctx, "noop.py", "print('after')\n")
    second = run_script(ctx, "noop.py", timeout=60, namespaces=ns)
    assert second["exit_code"] == 0 and "after" in second["stdout"]
    assert "files/runs was a symlink" in second["note"] and (ctx.ws.files_dir / "runs" / "2").is_dir()
    assert os.listdir(outside) == [] and "pk-hunter2" not in ctx.ws.runs_path.read_text()
