"""edit_file: viewing, editing, undo across a resume, and refusal of every path out of files/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_scientist.agent.registry import planner_tools
from agent_scientist.contracts import Toolbox, ToolContext, ToolError
from agent_scientist.experiments import editor as editor_module
from agent_scientist.workspace import Workspace


@pytest.fixture
def ws(home: Path) -> Workspace:
    return Workspace.create(home, "edits")


def make_tool(ws: Workspace, settings):
    """The registered smolagents tool, called as the planner would."""
    box = Toolbox()
    editor_module.EditorCapability().register(ToolContext(ws=ws, settings=settings), box)
    (tool,) = planner_tools(box)
    return tool


@pytest.fixture
def edit(ws: Workspace, settings):
    return make_tool(ws, settings)


def test_tool_name_and_parameters(edit) -> None:
    assert edit.name == "edit_file"
    assert list(edit.inputs) == ["command", "path", "file_text", "old_str", "new_str", "insert_line",
                                 "view_start", "view_end"]


def test_view_range_of_big_file_is_short_and_says_how_to_see_more(edit, ws: Workspace) -> None:
    (ws.files_dir / "big.py").write_text("".join(f"x_{i} = {i}\n" for i in range(1, 2001)))
    out = edit(command="view", path="big.py", view_start=1000, view_end=1039)
    lines = out.splitlines()
    assert lines[0].split() == ["1000", "x_1000", "=", "1000"]
    assert lines[39].split()[0] == "1039"
    assert "[lines 1000-1039 of 2000]" in out
    whole = edit(command="view", path="big.py")
    assert len(whole) <= editor_module.MAX_VIEW_CHARS + 200
    assert "view_start=" in whole.splitlines()[-1] and "of 2000" in whole


def test_view_long_lines_are_clipped(edit, ws: Workspace) -> None:
    (ws.files_dir / "wide.txt").write_text("a" * 5000 + "\n")
    assert "[+4700 chars]" in edit(command="view", path="wide.txt")


def test_view_directory_two_levels(edit, ws: Workspace) -> None:
    (ws.files_dir / "a" / "b" / "c").mkdir(parents=True)
    (ws.files_dir / "a" / "one.py").write_text("1\n")
    (ws.files_dir / "a" / "b" / "c" / "deep.py").write_text("1\n")
    out = edit(command="view", path=".")
    assert "a/" in out and "a/one.py  (2 B)" in out and "a/b/" in out
    assert "deep.py" not in out


def test_create_then_overwrite_rule(edit, ws: Workspace) -> None:
    assert "Created exp/run.py (2 lines" in edit(command="create", path="exp/run.py", file_text="a\nb\n")
    assert (ws.files_dir / "exp" / "run.py").read_text() == "a\nb\n"
    with pytest.raises(ToolError, match="view it first"):
        edit(command="create", path="exp/run.py", file_text="new\n")
    edit(command="view", path="exp/run.py")
    assert "Overwrote" in edit(command="create", path="exp/run.py", file_text="new\n")
    with pytest.raises(ToolError, match="view it first"):  # viewing allows one overwrite only
        edit(command="create", path="exp/run.py", file_text="again\n")
    (ws.files_dir / "empty.txt").write_text("")
    assert "Overwrote" not in edit(command="create", path="empty.txt", file_text="x\n")


def test_str_replace_unique_zero_and_many(edit, ws: Workspace) -> None:
    text = "".join(f"line {i}\n" for i in range(1, 31)) + "dup\nmid\ndup\n"
    (ws.files_dir / "f.txt").write_text(text)
    out = edit(command="str_replace", path="f.txt", old_str="line 15\n", new_str="LINE 15\nextra\n")
    assert out.startswith("Edited f.txt:")
    assert "   15  LINE 15" in out and "   16  extra" in out and "   12  line 12" in out
    assert len(out) < 200
    with pytest.raises(ToolError, match="not found"):
        edit(command="str_replace", path="f.txt", old_str="nope", new_str="x")
    with pytest.raises(ToolError, match=r"occurs 2 times in f.txt \(lines 32, 34\)"):
        edit(command="str_replace", path="f.txt", old_str="dup", new_str="x")
    with pytest.raises(ToolError, match="ignore leading/trailing whitespace"):
        edit(command="str_replace", path="f.txt", old_str="  mid  ", new_str="x")


def test_insert_top_middle_end_and_out_of_range(edit, ws: Workspace) -> None:
    (ws.files_dir / "f.txt").write_text("a\nb")
    edit(command="insert", path="f.txt", insert_line=0, new_str="top")
    edit(command="insert", path="f.txt", insert_line=2, new_str="after a\n")
    edit(command="insert", path="f.txt", insert_line=4, new_str="end")
    assert (ws.files_dir / "f.txt").read_text() == "top\na\nafter a\nb\nend\n"
    with pytest.raises(ToolError, match="out of range: f.txt has 5 lines"):
        edit(command="insert", path="f.txt", insert_line=9, new_str="x")


def test_undo_survives_a_resume(ws: Workspace, settings) -> None:
    edit = make_tool(ws, settings)
    edit(command="create", path="n.md", file_text="one\n")
    edit(command="str_replace", path="n.md", old_str="one", new_str="two")
    edit(command="insert", path="n.md", insert_line=1, new_str="three")
    assert (ws.root / "edits").is_dir() and not (ws.files_dir / "edits").exists()
    resumed = make_tool(Workspace.open(ws.root.parent, ws.name), settings)  # a new process would do this
    assert "2 earlier edit(s)" in resumed(command="undo_edit", path="n.md")
    assert (ws.files_dir / "n.md").read_text() == "two\n"
    resumed(command="undo_edit", path="n.md")
    assert (ws.files_dir / "n.md").read_text() == "one\n"
    assert "removed n.md" in resumed(command="undo_edit", path="n.md")
    assert not (ws.files_dir / "n.md").exists()
    with pytest.raises(ToolError, match="No edit of n.md to undo"):
        resumed(command="undo_edit", path="n.md")


def test_binary_and_unknown_command_refused(edit, ws: Workspace) -> None:
    (ws.files_dir / "blob.bin").write_bytes(b"\x00\x01\xff" * 100)
    for command in ("view", "str_replace", "insert"):
        with pytest.raises(ToolError, match="binary"):
            edit(command=command, path="blob.bin", old_str="a", new_str="b")
    with pytest.raises(ToolError, match="Unknown command 'delete'"):
        edit(command="delete", path="blob.bin")
    with pytest.raises(ToolError, match="No file 'missing.py'"):
        edit(command="view", path="missing.py")


@pytest.mark.parametrize("path", ["/etc/passwd", "../workspace.json", "a/../../workspace.json", "~/.bashrc", ""])
def test_traversal_refused(edit, path: str) -> None:
    for command in ("view", "create", "str_replace", "insert", "undo_edit"):
        with pytest.raises(ToolError, match="Refused|Empty path"):
            edit(command=command, path=path, file_text="pwned", old_str="x", new_str="y")


def test_symlink_escape_refused_and_nothing_written_outside(edit, ws: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("secret\n")
    os.symlink(outside, ws.files_dir / "door")
    os.symlink(secret, ws.files_dir / "link.txt")
    os.symlink(ws.files_dir / "inner.txt", ws.files_dir / "ok.txt")  # a link that stays inside is fine
    (ws.files_dir / "inner.txt").write_text("inside\n")
    for path in ("door/secret.txt", "door/new.txt", "link.txt", "door"):
        for command in ("view", "create", "str_replace", "insert"):
            with pytest.raises(ToolError, match="symlink leading outside"):
                edit(command=command, path=path, file_text="pwned", old_str="secret", new_str="pwned")
    assert secret.read_text() == "secret\n" and sorted(os.listdir(outside)) == ["secret.txt"]
    assert "inside" in edit(command="view", path="ok.txt")


def test_windows_line_endings_are_kept_and_matched(edit, ws: Workspace) -> None:
    # view hides the \r, so the model writes old_str with \n only: it must still match once
    (ws.files_dir / "w.txt").write_bytes(b"a\r\nb\r\nc\r\n")
    assert "    2  B" in edit(command="str_replace", path="w.txt", old_str="b\nc", new_str="B\nC")
    edit(command="insert", path="w.txt", insert_line=1, new_str="mid\nmid2")
    assert (ws.files_dir / "w.txt").read_bytes() == b"a\r\nmid\r\nmid2\r\nB\r\nC\r\n"


def test_malformed_arguments_become_tool_errors(edit, ws: Workspace) -> None:
    (ws.files_dir / "f.txt").write_text("a\n")
    with pytest.raises(ToolError, match="NUL"):
        edit(command="view", path="f\0.txt")
    with pytest.raises(ToolError, match="whole numbers"):
        edit(command="insert", path="f.txt", insert_line="after the imports", new_str="x")
    assert (ws.files_dir / "f.txt").read_text() == "a\n"


EDITS_IN_ANOTHER_PROCESS = """
import sys
from pathlib import Path
from agent_scientist.config import load_settings
from agent_scientist.contracts import Toolbox, ToolContext
from agent_scientist.experiments import editor
from agent_scientist.workspace import Workspace
box = Toolbox()
editor.EditorCapability().register(ToolContext(ws=Workspace.open(Path(sys.argv[1]), "edits"), settings=load_settings({})), box)
box.functions[0](command="create", path="p.py", file_text="v = 1\\n")
box.functions[0](command="str_replace", path="p.py", old_str="v = 1", new_str="v = 2")
"""


def test_undo_of_edits_made_by_an_earlier_process(ws: Workspace, settings) -> None:
    subprocess.run([sys.executable, "-c", EDITS_IN_ANOTHER_PROCESS, str(ws.root.parent)], check=True, timeout=120)
    assert (ws.files_dir / "p.py").read_text() == "v = 2\n"
    resumed = make_tool(Workspace.open(ws.root.parent, ws.name), settings)
    assert "1 earlier edit(s)" in resumed(command="undo_edit", path="p.py")
    assert (ws.files_dir / "p.py").read_text() == "v = 1\n"
