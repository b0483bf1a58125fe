"""run_experiment on a real Ray cluster (one head on 127.0.0.1 for the whole session): same answer as local,
files both ways with their bounds, timeout, Ctrl-C and a lost worker, parallel batches, worker checks.

Run alone with `pytest -m ray`.
"""

from __future__ import annotations

import _thread
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from support.lab import lab, procs_with, script, token

from agent_scientist.agent.registry import planner_tools
from agent_scientist.contracts import Toolbox, ToolError
from agent_scientist.experiments import runner as runner_module
from agent_scientist.experiments.runner import run_many, run_script
from agent_scientist.sandbox import report as sandbox_report

pytestmark = pytest.mark.ray


@pytest.fixture(scope="session")
def ray_head():
    from support.ray_cluster import RayHead

    head = RayHead(num_cpus=4)
    try:
        yield head
    finally:
        head.stop()
        assert head.processes() == [], "a Ray process outlived the test session"


def on_ray(home: Path, head, **overrides):
    return lab(home, executor="ray", ray_address=head.address, **overrides)


def wait_for(predicate, limit: float = 60.0, every: float = 0.1):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


EXPERIMENT = """
    import json, sys
    print("args", sys.argv[1:])
    open("data.csv", "w").write("new, longer\\n")
    open("exp/model.txt", "w").write("weights")
    json.dump({"accuracy": 0.91}, open("metrics.json", "w"))
"""


def test_same_answer_as_local_with_artifacts_and_metrics(home: Path, ray_head) -> None:
    local = lab(home)
    (home.parent / "other").mkdir()
    remote = on_ray(home.parent / "other", ray_head)
    answers = []
    for ctx in (local, remote):
        (ctx.ws.files_dir / "data.csv").write_text("old\n")
        (ctx.ws.files_dir / "exp").mkdir(exist_ok=True)
        script(ctx, "exp/train.py", EXPERIMENT)
        box = Toolbox()
        runner_module.RunnerCapability().register(ctx, box)
        answers.append(planner_tools(box)[0](script="exp/train.py", args="--seed 'two words'", timeout=60))
    here, there = answers
    assert set(here) == set(there)
    for key in ("exit_code", "timed_out", "artifacts", "metrics", "output_dir", "stdout", "stderr", "run"):
        assert here[key] == there[key], key
    assert there["artifacts"] == ["data.csv", "exp/model.txt", "metrics.json"]
    files = remote.ws.files_dir
    assert (files / "data.csv").read_text() == "new, longer\n" and (files / "exp/model.txt").read_text() == "weights"
    assert "args ['--seed', 'two words']" in (files / "runs/1/stdout.txt").read_text()
    (record,) = remote.ws.runs()
    assert record["executor"] == "ray" and record["node"] and record["node_id"]
    assert record["resources"] == {"num_cpus": 1.0, "num_gpus": 0.0, "memory_mb": 0.0}
    assert record["metrics"] == {"accuracy": 0.91} and record["artifacts"] == there["artifacts"]
    assert record["command"][1:] == ["exp/train.py", "--seed", "two words"]
    assert local.ws.runs()[0]["executor"] == "local"


def test_upload_bound_names_the_big_folders(home: Path, ray_head) -> None:
    ctx = on_ray(home, ray_head, ray_max_upload_mb=0.5)
    (ctx.ws.files_dir / "data").mkdir()
    (ctx.ws.files_dir / "data" / "big.bin").write_bytes(b"x" * 700_000)
    (ctx.ws.files_dir / "runs" / "1").mkdir(parents=True)
    (ctx.ws.files_dir / "runs" / "1" / "huge.log").write_bytes(b"y" * 2_000_000)  # runs/ never travels
    script(ctx, "noop.py", "pass\n")
    with pytest.raises(ToolError, match=r"over ray_max_upload_mb = 0.5.*Biggest: data/ 0.7 MB"):
        run_script(ctx, "noop.py", timeout=30)
    assert ctx.ws.runs() == [] and not (ctx.ws.files_dir / "runs" / "2").exists()
    (ctx.ws.files_dir / "data" / "big.bin").unlink()
    assert run_script(ctx, "noop.py", timeout=30)["exit_code"] == 0


def test_download_bound_leaves_the_rest_on_the_worker(home: Path, ray_head) -> None:
    ctx = on_ray(home, ray_head, ray_max_download_mb=1)
    script(ctx, "make.py", """
        import json
        for name in "abc":
            open(name + ".bin", "wb").write(b"z" * 400_000)
        json.dump({"made": 3}, open("metrics.json", "w"))
    """)
    result = run_script(ctx, "make.py", timeout=60)
    assert result["artifacts"] == ["a.bin", "b.bin", "metrics.json"] and result["metrics"] == {"made": 3}
    assert not (ctx.ws.files_dir / "c.bin").exists()
    assert "Not brought back (over ray_max_download_mb = 1" in result["note"] and "c.bin" in result["note"]
    record = ctx.ws.runs()[-1]
    assert record["left_on_worker"] == ["c.bin"]
    kept = Path(record["kept_dir"])  # this test's worker is this machine
    assert (kept / "c.bin").stat().st_size == 400_000
    shutil.rmtree(kept.parent)


def test_timeout_kills_the_tree_on_the_worker(home: Path, ray_head) -> None:
    ctx = on_ray(home, ray_head)
    mark = token()
    script(ctx, "hang.py", f"""
        import subprocess, time
        subprocess.Popen(["sleep", "300", "{mark}"])
        print("started", flush=True)
        time.sleep(300)
    """)
    result = run_script(ctx, "hang.py", args=mark, timeout=3)
    assert result["timed_out"] is True and result["exit_code"] is None
    assert "Timed out after 3 s" in result["note"] and "started" in result["stdout"]
    wait_for(lambda: procs_with(mark) == [], limit=10)
    assert ctx.ws.runs()[-1]["timed_out"] is True


def _ray_worker_of(pid: int) -> int:
    """The Ray worker process above an experiment's process."""
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read()
        if cmdline.startswith(b"ray::") or b"default_worker" in cmdline:
            return pid
        with open(f"/proc/{pid}/stat") as fh:
            pid = int(fh.read().rsplit(")", 1)[1].split()[1])
    raise AssertionError("no Ray worker above the experiment")


def test_ctrl_c_cancels_and_kills_the_tree(home: Path, ray_head) -> None:
    ctx = on_ray(home, ray_head)
    mark = token()
    script(ctx, "slow.py", "import subprocess, sys, time\nsubprocess.Popen(['sleep', '300', sys.argv[1]])\n"
                           "time.sleep(300)\n")

    def press_ctrl_c() -> None:
        wait_for(lambda: procs_with(mark), limit=90)
        _thread.interrupt_main()

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_script(ctx, "slow.py", args=mark, timeout=300)
    assert time.monotonic() - started < 120
    wait_for(lambda: procs_with(mark) == [], limit=15)
    record = ctx.ws.runs()[-1]
    assert record["interrupted"] is True and record["executor"] == "ray"


def test_lost_worker_is_a_readable_tool_error(home: Path, ray_head) -> None:
    ctx = on_ray(home, ray_head)
    mark = token()
    script(ctx, "victim.py", "import sys, time\ntime.sleep(300)\n")

    def kill_worker() -> None:
        (pid,) = wait_for(lambda: procs_with(mark), limit=90)
        os.kill(_ray_worker_of(pid), signal.SIGKILL)

    threading.Thread(target=kill_worker, daemon=True).start()
    with pytest.raises(ToolError, match="Ray worker running this experiment was lost"):
        run_script(ctx, "victim.py", args=mark, timeout=300)
    wait_for(lambda: procs_with(mark) == [], limit=15)
    record = ctx.ws.runs()[-1]
    assert "was lost" in record["error"] and record["exit_code"] is None


def test_run_experiments_overlap_on_ray_and_keep_order(home: Path, ray_head) -> None:
    ctx = on_ray(home, ray_head)
    script(ctx, "seed.py", """
        import json, sys, time
        start = time.time()
        time.sleep(6)
        json.dump({"seed": int(sys.argv[1])}, open("metrics.json", "w"))
        print(json.dumps([start, time.time()]))
    """)
    answers = run_many(ctx, [{"script": "seed.py", "args": str(seed), "timeout": 120} for seed in range(4)])
    assert [a["metrics"] for a in answers] == [{"seed": s} for s in range(4)]  # each its own metrics.json
    spans = [json.loads(a["stdout"]) for a in answers]
    # One after another, the runs' own times add up to at most the batch's span; here they overlap.
    # (Cold Ray workers start seconds apart on a loaded 2-core machine, so not all four need coincide.)
    assert sum(e - s for s, e in spans) > 1.3 * (max(e for _, e in spans) - min(s for s, _ in spans)), spans
    last = ctx.ws.runs()[-1]  # files land as runs finish: the last one recorded left its metrics.json
    assert json.loads((ctx.ws.files_dir / "metrics.json").read_text()) == last["metrics"]
    assert sorted(r["run"] for r in ctx.ws.runs()) == [1, 2, 3, 4]
    bad = run_many(ctx, [{"script": "missing.py"}, {"script": "seed.py", "args": "9", "timeout": 60}])
    assert "No script 'missing.py'" in bad[0]["error"] and bad[1]["metrics"] == {"seed": 9}


def test_unenforced_protections_on_the_worker_are_listed(home: Path, ray_head) -> None:
    ctx = on_ray(home, ray_head)
    script(ctx, "noop.py", "print('ok')\n")
    result = run_script(ctx, "noop.py", timeout=60, namespaces=False)
    assert result["protections"]["read_only_fs"] is False and result["protections"]["clean_env"] is True
    assert "Not enforced on the Ray worker: " in result["note"] and "read_only_fs" in result["note"]


def test_doctor_runs_a_trivial_task_in_the_sandbox_on_a_worker(home: Path, ray_head) -> None:
    from agent_scientist.experiments.executors.ray import _task
    from agent_scientist.sandbox import detect

    ctx = on_ray(home, ray_head)
    checks = {what: (ok, detail) for what, ok, detail in runner_module.RunnerCapability().doctor_checks(ctx.settings)}
    assert checks["ray cluster"][0] and "1 node(s), 4 CPUs, 0 GPUs" in checks["ray cluster"][1]
    assert checks["ray sandbox run"][0] and "exited 0" in checks["ray sandbox run"][1]
    ok, detail = checks["ray worker protections"]
    local_missing = {n for n, (got, _) in sandbox_report.protection_report(ctx.settings).items() if not got}
    assert ok == (not local_missing) and all(name in detail for name in local_missing)  # same machine here
    import ray

    job = {"argv": ["p.py"], "timeout": 30, "settings": ctx.settings, "namespaces": bool(detect().unshare),
           "max_download": 1 << 20}
    reply = ray.get(_task(ctx.settings, 0).remote([("p.py", b"print(1)\n")], job), timeout=120)
    assert "runtime_resources" in reply["sandbox_module"]  # the sandbox code travelled with the task


def test_ctrl_c_cancels_a_whole_batch(home: Path, ray_head) -> None:
    ctx = on_ray(home, ray_head)
    marks = [token(), token()]
    script(ctx, "slow.py", "import sys, time\ntime.sleep(300)\n")

    def press_ctrl_c() -> None:
        wait_for(lambda: all(procs_with(m) for m in marks), limit=120)
        _thread.interrupt_main()

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_many(ctx, [{"script": "slow.py", "args": m, "timeout": 300} for m in marks])
    wait_for(lambda: not any(procs_with(m) for m in marks), limit=15)
    records = ctx.ws.runs()
    assert len(records) == 2 and all(r["interrupted"] for r in records)
