"""run_experiment: the run log contract, artifacts, metrics, bounded output, and clear errors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import get_type_hints

import pytest
from support.lab import lab, script

from agent_scientist.agent.registry import planner_tools
from agent_scientist.contracts import Toolbox, ToolError
from agent_scientist.experiments import editor as editor_module
from agent_scientist.experiments import runner as runner_module
from agent_scientist.experiments.runner import STDERR_CHARS, STDOUT_CHARS, run_script
from agent_scientist.records import RunRecord
from agent_scientist.sandbox import PROTECTIONS


def test_tool_registration(home: Path) -> None:
    box = Toolbox()
    runner_module.RunnerCapability().register(lab(home), box)
    tool, batch = planner_tools(box)
    assert tool.name == "run_experiment" and list(tool.inputs) == ["script", "args", "timeout"]
    assert batch.name == "run_experiments" and list(batch.inputs) == ["runs"]
    assert box.instructions and "metrics.json" in box.instructions[0]


def test_instruction_tells_the_truth_without_namespaces(home: Path, monkeypatch) -> None:
    from agent_scientist.sandbox import probe

    monkeypatch.setattr(probe, "_caps", probe.Capabilities(rlimits=True))  # a machine refusing them
    box = Toolbox()
    runner_module.RunnerCapability().register(lab(home), box)
    assert "network not blocked here" in box.instructions[0]
    assert "write only inside files/ (not enforced here)" in box.instructions[0]


def test_run_record_artifacts_and_metrics(home: Path) -> None:
    ctx = lab(home)
    (ctx.ws.files_dir / "data.csv").write_text("old\n")
    (ctx.ws.files_dir / "untouched.txt").write_text("same\n")
    script(ctx, "exp/train.py", """
        import json, sys
        print("args", sys.argv[1:])
        open("data.csv", "w").write("new, longer\\n")
        open("exp/model.txt", "w").write("weights")
        json.dump({"accuracy": 0.91, "loss": [0.5, 0.2]}, open("metrics.json", "w"))
    """)
    box = Toolbox()
    runner_module.RunnerCapability().register(ctx, box)
    result = planner_tools(box)[0](script="exp/train.py", args="--lr 0.1 --name 'two words'", timeout=60)
    assert result["exit_code"] == 0 and result["timed_out"] is False and result["run"] == 1
    assert "args ['--lr', '0.1', '--name', 'two words']" in result["stdout"]
    assert result["artifacts"] == ["data.csv", "exp/model.txt", "metrics.json"]
    assert result["metrics"] == {"accuracy": 0.91, "loss": [0.5, 0.2]}
    assert result["output_dir"] == "runs/1" and set(result["protections"]) == set(PROTECTIONS)
    (record,) = ctx.ws.runs()
    assert set(record) == {"v", "run", "script", "args", "command", "started_at", "duration_s", "exit_code",
                           "timed_out", "artifacts", "metrics", "output_dir", "protections", "gpus", "step",
                           "executor", "node"}
    assert set(record) <= set(get_type_hints(RunRecord)), "a runs.jsonl key records.RunRecord does not name"
    assert record["executor"] == "local" and record["node"]
    assert record["script"] == "exp/train.py" and record["args"] == "--lr 0.1 --name 'two words'"
    assert record["command"] == [ctx.settings.sandbox_python, "exp/train.py", "--lr", "0.1", "--name", "two words"]
    assert record["step"] == 7 and record["artifacts"] == result["artifacts"]
    assert record["metrics"] == result["metrics"] and isinstance(record["duration_s"], float)
    out_dir = ctx.ws.files_dir / "runs" / "1"
    assert "args" in (out_dir / "stdout.txt").read_text() and (out_dir / "stderr.txt").read_text() == ""
    # A second run sees its own changes only; the old metrics.json is not reported again.
    script(ctx, "noop.py", "print('ok')\n")
    second = run_script(ctx, "noop.py", timeout=60)
    assert second["run"] == 2 and second["artifacts"] == [] and second["metrics"] is None


def test_run_numbers_skip_leftover_folders(home: Path) -> None:
    ctx = lab(home)
    (ctx.ws.files_dir / "runs" / "4").mkdir(parents=True)  # a run killed before it was recorded
    script(ctx, "noop.py", "pass\n")
    assert run_script(ctx, "noop.py", timeout=60)["run"] == 5


def test_missing_script_bad_args_and_bad_interpreter(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "real.py", "pass\n")
    with pytest.raises(ToolError, match=r"No script 'nope.py' in files/ \(Python files there: real.py\)"):
        run_script(ctx, "nope.py")
    with pytest.raises(ToolError, match="Refused"):
        run_script(ctx, "../workspace.json")
    with pytest.raises(ToolError, match="Cannot split args"):
        run_script(ctx, "real.py", args="'unclosed")
    broken = lab(home, sandbox_python=str(home / "no-such-python"))
    with pytest.raises(ToolError, match="sandbox_python"):
        run_script(broken, "real.py")
    assert ctx.ws.runs() == []


def test_non_zero_exit_shows_the_traceback(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "boom.py", "print('before')\nraise ValueError('bad hyperparameter')\n")
    result = run_script(ctx, "boom.py", timeout=60)
    assert result["exit_code"] == 1 and "Exited with code 1" in result["note"]
    assert "ValueError: bad hyperparameter" in result["stderr"] and "before" in result["stdout"]
    assert ctx.ws.runs()[-1]["exit_code"] == 1


def test_megabytes_of_output_are_bounded_and_saved(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "chatty.py", """
        import sys
        for i in range(200_000):
            print(f"line {i} " + "x" * 20)
        print("progress 10%\\rprogress 50%\\rprogress 100%", file=sys.stderr)
        print("the end")
    """)
    result = run_script(ctx, "chatty.py", timeout=60)
    assert result["stdout"].endswith("line 199999 xxxxxxxxxxxxxxxxxxxx\nthe end\n")
    assert len(result["stdout"]) < STDOUT_CHARS + 200
    assert "only the end is shown; full output in runs/1/stdout.txt" in result["stdout"]
    assert result["stderr"] == "progress 100%\n"
    saved = ctx.ws.files_dir / "runs" / "1" / "stdout.txt"
    assert saved.stat().st_size > 5_000_000 and saved.read_text().startswith("line 0 ")
    assert len(json.dumps(result)) < STDOUT_CHARS + STDERR_CHARS + 1500


def test_disk_copy_of_output_is_capped(home: Path) -> None:
    ctx = lab(home, sandbox_file_size_mb=1)
    script(ctx, "flood.py", "import sys\nfor _ in range(3):\n    sys.stdout.write('z' * 1024 * 1024)\n")
    result = run_script(ctx, "flood.py", timeout=60)
    assert result["exit_code"] == 0
    assert "disk copy capped at 1,048,576 bytes" in result["stdout"]
    assert (ctx.ws.files_dir / "runs" / "1" / "stdout.txt").stat().st_size == 1024 * 1024


def test_binary_junk_is_not_shown(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "junk.py", "import os\nos.write(1, os.urandom(300_000))\nos.write(2, b'\\x00\\x1b[31mred\\x07\\n')\n")
    result = run_script(ctx, "junk.py", timeout=60)
    assert result["stdout"].startswith("[stdout: 300,000 bytes that look binary, not shown")
    assert "\x00" not in result["stderr"] and "\x1b" not in result["stderr"] and "red" in result["stderr"]
    assert (ctx.ws.files_dir / "runs" / "1" / "stdout.txt").stat().st_size == 300_000


def test_bad_metrics_file_is_reported(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "m.py", "open('metrics.json', 'w').write('{not json')\n")
    result = run_script(ctx, "m.py", timeout=60)
    assert result["metrics"] is None and "metrics.json could not be read as JSON" in result["note"]


def test_degraded_mode_says_what_is_not_enforced(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "noop.py", "pass\n")
    result = run_script(ctx, "noop.py", timeout=60, namespaces=False)
    missing = [name for name, ok in result["protections"].items() if not ok]
    assert "read_only_fs" in missing and "no_network" in missing
    assert f"Not enforced on this machine: {', '.join(missing)}." in result["note"]
    assert ctx.ws.runs()[-1]["protections"] == result["protections"]
    assert os.path.isdir(ctx.ws.root / "sandbox" / "home")


@pytest.mark.parametrize("ns", [True, False], ids=["namespaces", "degraded"])
def test_workspace_home_given_relative_and_through_a_symlink(home: Path, tmp_path: Path, monkeypatch, ns: bool) -> None:
    real = tmp_path / "real-home"
    real.mkdir()
    os.symlink(real, tmp_path / "link")
    monkeypatch.chdir(tmp_path)
    ctx = lab(Path("link"))  # relative, and through a symlink
    assert ctx.ws.root.is_absolute()
    box = Toolbox()
    editor_module.EditorCapability().register(ctx, box)
    planner_tools(box)[0](command="create", path="exp/w.py", file_text="import os\nopen('out.txt', 'w').write(os.getcwd())\n")
    monkeypatch.chdir("/")  # the agent's cwd must not matter once the workspace is open
    result = run_script(ctx, "exp/w.py", timeout=60, namespaces=ns)
    assert result["exit_code"] == 0 and result["artifacts"] == ["out.txt"], result
    assert (real / "lab" / "files" / "out.txt").read_text() == str(real / "lab" / "files")
    assert ctx.ws.runs()[-1]["output_dir"] == "runs/1" and (real / "lab" / "files" / "runs" / "1").is_dir()


def test_nul_in_script_or_args_is_refused_before_running(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "real.py", "pass\n")
    with pytest.raises(ToolError, match="NUL"):
        run_script(ctx, "real\0.py")
    with pytest.raises(ToolError, match="Cannot split args .*NUL"):
        run_script(ctx, "real.py", args="a\0b")
    assert ctx.ws.runs() == []


def test_ray_worker_entry_runs_in_the_sandbox_without_ray(home: Path) -> None:
    """executors/remote.execute is what a Ray worker calls: it must import the sandbox it runs in (the import
    pointed at a module that had moved, so every Ray run failed on the worker)."""
    from agent_scientist import sandbox
    from agent_scientist.experiments.executors import remote

    def ray_connected() -> bool:
        return "ray" in sys.modules and sys.modules["ray"].is_initialized()

    connected = ray_connected()  # a Ray test that ran before in this process may have connected it to its head
    ctx = lab(home)
    reply = remote.execute([("hello.py", b"print('hi')\nopen('out.txt', 'w').write('x')\n")],
                           {"argv": ["hello.py"], "timeout": 60, "settings": ctx.settings, "namespaces": False,
                            "max_download": 1_000_000})
    assert reply["exit_code"] == 0 and reply["logs"]["stdout"] == b"hi\n"
    assert reply["files"] == [("out.txt", b"x")] and reply["sandbox_module"] == sandbox.__file__
    assert ray_connected() == connected  # asking where it ran, outside Ray, started no local cluster
