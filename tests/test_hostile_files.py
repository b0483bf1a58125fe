"""Files a hostile experiment leaves behind must not break the agent's tools (run_experiment, edit_file)."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from support.lab import lab, script

from agent_scientist.agent.registry import planner_tools
from agent_scientist.contracts import Toolbox, ToolError
from agent_scientist.experiments import editor as editor_module
from agent_scientist.experiments.runner import MAX_TIMEOUT, run_script


def edit_tool(ctx):
    box = Toolbox()
    editor_module.EditorCapability().register(ctx, box)
    return planner_tools(box)[0]


def within(seconds: float, fn):
    """fn's result or exception, failing the test (instead of hanging it) if fn blocks."""
    done: list = []

    def call() -> None:
        try:
            done.append(("ok", fn()))
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            done.append(("error", exc))

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    assert done, f"blocked for more than {seconds} s"
    kind, value = done[0]
    if kind == "error":
        raise value
    return value


def test_deeply_nested_folders_do_not_break_the_runner(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "nest.py", """
        import os
        for _ in range(1200):
            os.mkdir("d")
            os.chdir("d")
        open("bottom.txt", "w").write("deep")
    """)
    first = run_script(ctx, "nest.py", timeout=120)
    assert first["exit_code"] == 0 and ctx.ws.runs()[-1]["run"] == first["run"], first
    script(ctx, "noop.py", "print('still works')\n")
    second = run_script(ctx, "noop.py", timeout=60)
    assert second["exit_code"] == 0 and "still works" in second["stdout"] and len(ctx.ws.runs()) == 2
    assert "d" in edit_tool(ctx)(command="view", path=".")
    # pytest's own clean-up of tmp folders (and os.walk on 3.11) recurses: leave it nothing 1,200 folders deep.
    subprocess.run(["rm", "-rf", str(ctx.ws.files_dir / "d")], check=True, timeout=60)


def test_runs_replaced_by_a_file_is_recreated(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "spoil.py", "import shutil\nshutil.rmtree('runs')\nopen('runs', 'w').write('not a folder')\n")
    assert run_script(ctx, "spoil.py", timeout=60)["exit_code"] == 0
    script(ctx, "noop.py", "print('after')\n")
    result = run_script(ctx, "noop.py", timeout=60)
    assert result["exit_code"] == 0 and "after" in result["stdout"], result
    assert "files/runs was not a folder; it was moved to runs.not-a-folder." in result["note"]
    assert (ctx.ws.files_dir / "runs" / str(result["run"])).is_dir()
    (kept,) = ctx.ws.files_dir.glob("runs.not-a-folder.*")
    assert kept.read_text() == "not a folder"


def test_a_named_pipe_does_not_block_the_editor(home: Path) -> None:
    ctx = lab(home)
    script(ctx, "fifo.py", "import os\nos.mkfifo('notes.txt')\n")
    assert run_script(ctx, "fifo.py", timeout=60)["exit_code"] == 0
    edit = edit_tool(ctx)
    for kwargs in ({"command": "view"}, {"command": "str_replace", "old_str": "a", "new_str": "b"},
                   {"command": "insert", "new_str": "x"}, {"command": "create", "file_text": "x"}):
        with pytest.raises(ToolError, match="not a regular file"):
            within(10, lambda kwargs=kwargs: edit(path="notes.txt", **kwargs))
    assert "notes.txt" in within(10, lambda: edit(command="view", path="."))


@pytest.mark.parametrize("asked", [float("inf"), 1e20, "1e20", -5, 0])
def test_absurd_timeouts_are_clamped_with_a_note(home: Path, asked) -> None:
    ctx = lab(home)
    script(ctx, "noop.py", "print('ran')\n")
    result = run_script(ctx, "noop.py", timeout=asked)
    expected = 1 if float(asked) < 1 else MAX_TIMEOUT
    assert result["exit_code"] == 0 and "ran" in result["stdout"]
    assert f"was clamped to {expected} s (allowed: 1 to {MAX_TIMEOUT} s)" in result["note"]
    assert ctx.ws.runs()[-1]["run"] == result["run"]


@pytest.mark.parametrize("asked", [float("nan"), "soon", None])
def test_timeouts_that_are_not_numbers_are_refused(home: Path, asked) -> None:
    ctx = lab(home)
    script(ctx, "noop.py", "pass\n")
    with pytest.raises(ToolError, match="timeout must be a number of seconds"):
        run_script(ctx, "noop.py", timeout=asked)
    assert ctx.ws.runs() == []


def test_a_newline_in_a_file_name_cannot_fake_a_listing_line(home: Path) -> None:
    ctx = lab(home)
    (ctx.ws.files_dir / "a\nfake.py  (1 B)").write_text("x")
    listing = edit_tool(ctx)(command="view", path=".")
    assert "a\\x0afake.py  (1 B)  (1 B)" in listing
    assert not any(line.startswith("fake.py") for line in listing.splitlines())


def test_create_and_view_share_one_size_bound(home: Path) -> None:
    ctx = lab(home)
    edit = edit_tool(ctx)
    with pytest.raises(ToolError, match="over edit_file's 20 MB bound"):
        edit(command="create", path="big.txt", file_text="x" * (30 * 1024 * 1024))
    assert not (ctx.ws.files_dir / "big.txt").exists()
    (ctx.ws.files_dir / "made.txt").write_bytes(b"y" * (21 * 1024 * 1024))
    with pytest.raises(ToolError, match="larger than 20 MB"):
        edit(command="view", path="made.txt")


def test_undo_refuses_to_throw_away_a_later_change(home: Path) -> None:
    ctx = lab(home)
    edit = edit_tool(ctx)
    edit(command="create", path="cfg.py", file_text="lr = 0.1\nepochs = 3\n")
    edit(command="str_replace", path="cfg.py", old_str="lr = 0.1", new_str="lr = 0.01")
    script(ctx, "tune.py", "text = open('cfg.py').read()\nopen('cfg.py', 'w').write(text.replace('3', '30'))\n")
    assert run_script(ctx, "tune.py", timeout=60)["exit_code"] == 0
    with pytest.raises(ToolError) as info:
        edit(command="undo_edit", path="cfg.py")
    message = str(info.value)
    assert message.startswith("Refused: cfg.py changed since the last str_replace")
    assert "-epochs = 3" in message and "+epochs = 30" in message
    assert (ctx.ws.files_dir / "cfg.py").read_text() == "lr = 0.01\nepochs = 30\n"
    edit(command="str_replace", path="cfg.py", old_str="epochs = 30", new_str="epochs = 5")
    assert "Undid the last edit" in edit(command="undo_edit", path="cfg.py")  # its own edit: fine
    assert (ctx.ws.files_dir / "cfg.py").read_text() == "lr = 0.01\nepochs = 30\n"
