"""The executor settings, Ray as an optional extra (a clear message without it), and where runs ran in the report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env
from support.lab import lab, script

from agent_scientist.config import ConfigError, load_settings
from agent_scientist.contracts import ToolError
from agent_scientist.experiments.runner import run_many, run_script
from agent_scientist.workspace import Workspace


def test_executor_settings_from_toml_env_and_flags(home: Path) -> None:
    (home.parent / "agent-scientist.toml").write_text(
        'executor = "ray"\nray_address = "ray://head:10001"\nray_num_gpus = 1\n'
        '[ray_runtime_env]\npip = ["numpy==2.1.0"]\nenv_vars = { OMP_NUM_THREADS = "4" }\n')
    s = load_settings()
    assert s.executor == "ray" and s.ray_address == "ray://head:10001" and s.ray_num_gpus == 1.0
    assert s.ray_runtime_env == {"pip": ["numpy==2.1.0"], "env_vars": {"OMP_NUM_THREADS": "4"}}
    assert (s.ray_max_upload_mb, s.ray_max_download_mb, s.ray_num_cpus, s.ray_memory_mb) == (100, 512, 1, 0)
    s = load_settings({"executor": "local"}, env={"AGENT_SCIENTIST_RAY_RUNTIME_ENV": '{"pip": ["torch"]}'})
    assert s.executor == "local" and s.ray_runtime_env == {"pip": ["torch"]}
    with pytest.raises(ConfigError, match="Setting 'executor' must be one of local, ray, not 'slurm'"):
        load_settings({"executor": "slurm"})
    with pytest.raises(ConfigError, match="RAY_RUNTIME_ENV"):
        load_settings(env={"AGENT_SCIENTIST_RAY_RUNTIME_ENV": "[1, 2]"})


def test_without_ray_the_tool_and_the_cli_say_how_to_install_it(home: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    ctx = lab(home, executor="ray")
    script(ctx, "noop.py", "pass\n")
    with pytest.raises(ToolError, match=r"pip install 'agent-scientist\[ray\]'"):
        run_script(ctx, "noop.py")
    assert ctx.ws.runs() == []
    hide = ("import sys; sys.modules['ray'] = None; sys.argv = ['agent-scientist'] + sys.argv[1:]; "
            "from agent_scientist.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", hide, "research", "Q?", "--model", "openai/x", "--executor", "ray"],
                          capture_output=True, text=True, timeout=120, env=cli_env(home), cwd=home.parent)
    assert proc.returncode == 2 and "pip install 'agent-scientist[ray]'" in proc.stderr
    assert sorted(p.name for p in home.iterdir()) == ["lab"]  # the CLI created nothing


def test_run_experiments_locally_run_one_after_another_in_order(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "seed.py", "import json, sys, time\nstart = time.time()\ntime.sleep(0.3)\n"
                           "json.dump({'seed': int(sys.argv[1])}, open('metrics.json', 'w'))\n"
                           "print(json.dumps([start, time.time()]))\n")
    answers = run_many(ctx, [{"script": "seed.py", "args": str(i), "timeout": 60} for i in range(3)]
                       + [{"script": "nope.py"}])
    assert [a["metrics"] for a in answers[:3]] == [{"seed": 0}, {"seed": 1}, {"seed": 2}]
    assert "No script 'nope.py'" in answers[3]["error"]
    import json

    spans = [json.loads(a["stdout"]) for a in answers[:3]]
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(2))  # sequential
    with pytest.raises(ToolError, match="at most 32"):
        run_many(ctx, [{"script": "seed.py"}] * 33)
    with pytest.raises(ToolError, match=r"runs\[0\] must be a dict with 'script'"):
        run_many(ctx, [{"script": "seed.py", "seed": 1}])


def test_report_table_says_where_each_run_ran(home: Path) -> None:
    from agent_scientist.report.markdown import build_markdown

    ws = Workspace.create(home, "where", "Q?")
    base = {"script": "t.py", "args": "", "exit_code": 0, "duration_s": 1.0, "metrics": None, "artifacts": []}
    ws.append_run({"run": 1, **base})  # written before executors were recorded: local
    ws.append_run({"run": 2, **base, "executor": "ray", "node": "gpu-node-3"})
    text = build_markdown(ws, []).text
    assert "| Run | Script | Arguments | Exit | Duration | Where | Metrics |" in text
    assert "| 1 | t.py |" in text and "| local |" in text and "| Ray: gpu-node-3 |" in text
    local_only = Workspace.create(home, "here", "Q?")
    local_only.append_run({"run": 1, **base, "executor": "local", "node": "laptop"})
    assert "Where" not in build_markdown(local_only, []).text  # one machine: the column says nothing
