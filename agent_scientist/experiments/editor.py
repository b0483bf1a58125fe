"""The `edit_file` tool: view and edit text files in the workspace's files/ without re-reading them.

Owns path safety for everything under files/ (`resolve_in_files`, also used by the runner) and
the undo log, kept on disk in <workspace>/edits/ so it survives a resume.
Overwrite rule for `create`: a new or empty file is written at once; a non-empty file is only
replaced if it was viewed (any `view` of it) since it last changed, otherwise the call is refused.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import stat
from pathlib import Path

from agent_scientist.contracts import BaseCapability, Toolbox, ToolContext, ToolError
from agent_scientist.fsio import atomic_write_bytes, atomic_write_json, read_json
from agent_scientist.workspace import Workspace, now_iso

MAX_VIEW_LINES = 200
MAX_VIEW_CHARS = 8000
MAX_LINE_CHARS = 300
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_DIR_ENTRIES = 150
UNDO_DEPTH = 20
CONTEXT_LINES = 3


def resolve_in_files(files_dir: Path, path: str) -> Path:
    """The real path of `path` inside files/, or ToolError if it is absolute, uses `..` or escapes."""
    text = (path or "").strip()
    if not text:
        raise ToolError("Empty path: give a path relative to files/, e.g. 'exp/train.py' (or '.' for all).")
    if "\0" in text:
        raise ToolError(f"Refused {path!r}: a path cannot contain a NUL character.")
    rel = Path(text)
    if rel.is_absolute() or text.startswith("~"):
        raise ToolError(f"Refused {path!r}: absolute paths are not allowed; use a path relative to files/.")
    if ".." in rel.parts:
        raise ToolError(f"Refused {path!r}: '..' is not allowed; paths stay inside files/.")
    root = Path(os.path.realpath(files_dir))
    target = Path(os.path.realpath(root / rel))
    if target != root and root not in target.parents:
        raise ToolError(f"Refused {path!r}: it is a symlink leading outside files/.")
    return target


def show_name(name: str) -> str:
    """A file name as one safe line: control characters (a newline could fake a listing row) escaped."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", name)


def read_regular(target: Path, limit: int) -> bytes:
    """The bytes of a regular file, at most `limit` + 1; never blocks on a FIFO or follows a final link."""
    fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ToolError(f"{target.name!r} is not a regular file; edit_file only handles text files.")
        return fh.read(limit + 1)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_binary(data: bytes) -> bool:
    if b"\0" in data[:8192]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _clip(line: str) -> str:
    line = line.rstrip("\r\n")
    if len(line) > MAX_LINE_CHARS:
        return f"{line[:MAX_LINE_CHARS]}…[+{len(line) - MAX_LINE_CHARS} chars]"
    return line


def _crlf(text: str, *parts: str) -> list[str]:
    """The model sees lines without \\r: give its text the file's Windows line endings if it has them."""
    if "\r\n" not in text:
        return list(parts)
    return [part if "\r" in part else part.replace("\n", "\r\n") for part in parts]


def _numbered(lines: list[str], first: int) -> str:
    return "\n".join(f"{first + i:>5}  {_clip(line)}" for i, line in enumerate(lines))


class Editor:
    """Edits files under ws.files_dir; one instance per tool registration."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.files = ws.files_dir
        self.undo_dir = ws.root / "edits"
        self.viewed: dict[str, tuple[int, int]] = {}  # rel path -> (mtime_ns, size) when last viewed

    # -- helpers ------------------------------------------------------------
    def rel(self, target: Path) -> str:
        rel = target.relative_to(os.path.realpath(self.files)).as_posix()
        return rel or "."

    def read_text(self, target: Path, path: str) -> str:
        if not target.exists():
            raise ToolError(f"No file {path!r} in files/. Use command='view', path='.' to list files.")
        if target.is_dir():
            raise ToolError(f"{path!r} is a directory; give a file path.")
        if not stat.S_ISREG(target.lstat().st_mode):
            raise ToolError(f"{path!r} is not a regular file (a FIFO, socket or device); edit_file only "
                            "handles text files.")
        data = read_regular(target, MAX_FILE_BYTES)
        if len(data) > MAX_FILE_BYTES:
            raise ToolError(f"{path!r} is larger than {MAX_FILE_BYTES // 2**20} MB; edit_file refuses it; "
                            "inspect it with a script run by run_experiment.")
        if _is_binary(data):
            raise ToolError(f"{path!r} is a binary file; edit_file only handles UTF-8 text.")
        return data.decode("utf-8")

    def _stamp(self, target: Path) -> tuple[int, int]:
        st = target.stat()
        return st.st_mtime_ns, st.st_size

    def _undo_dir(self, rel: str) -> Path:
        return self.undo_dir / hashlib.sha1(rel.encode()).hexdigest()[:16]

    def _entries(self, rel: str) -> list[int]:
        folder = self._undo_dir(rel)
        if not folder.is_dir():
            return []
        return sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit())

    def save_undo(self, target: Path, command: str, after: bytes) -> None:
        """Keep the file's content before the change (or its absence) and after it (to detect later changes)."""
        rel = self.rel(target)
        folder = self._undo_dir(rel)
        seqs = self._entries(rel)
        seq = (seqs[-1] + 1) if seqs else 1
        existed = target.exists()
        if existed:
            atomic_write_bytes(folder / f"{seq}.bin", read_regular(target, MAX_FILE_BYTES))
        atomic_write_bytes(folder / f"{seq}.after", after)
        atomic_write_json(folder / f"{seq}.json", {"path": rel, "existed": existed, "command": command,
                                                   "at": now_iso(), "after_sha256": _sha(after)})
        for old in seqs[: max(0, len(seqs) + 1 - UNDO_DEPTH)]:
            for suffix in (".json", ".bin", ".after"):
                (folder / f"{old}{suffix}").unlink(missing_ok=True)

    def write(self, target: Path, text: str, command: str) -> None:
        data = text.encode("utf-8")
        if len(data) > MAX_FILE_BYTES:
            raise ToolError(f"The result would be {len(data):,} bytes, over edit_file's {MAX_FILE_BYTES // 2**20} MB "
                            "bound; write large data from a script run by run_experiment.")
        self.save_undo(target, command, data)
        atomic_write_bytes(target, data)

    def snippet(self, text: str, first_line: int, last_line: int) -> str:
        lines = text.splitlines()
        start = max(1, first_line - CONTEXT_LINES)
        end = min(len(lines), last_line + CONTEXT_LINES)
        if end - start > 2 * CONTEXT_LINES + 12:  # a long insertion: show its edges only
            head = _numbered(lines[start - 1: start + CONTEXT_LINES + 3], start)
            tail_start = end - CONTEXT_LINES - 3
            return f"{head}\n  ...\n{_numbered(lines[tail_start - 1: end], tail_start)}"
        return _numbered(lines[start - 1: end], start)

    # -- commands -----------------------------------------------------------
    def view(self, path: str, view_start: int, view_end: int) -> str:
        target = resolve_in_files(self.files, path)
        if target.is_dir():
            return self.view_dir(target, path)
        text = self.read_text(target, path)
        self.viewed[self.rel(target)] = self._stamp(target)
        lines = text.splitlines()
        total = len(lines)
        if total == 0:
            return f"{path} is empty."
        start = max(1, view_start or 1)
        end = total if view_end in (0, -1) or view_end > total else view_end
        if start > total:
            raise ToolError(f"view_start={view_start} is past the end: {path} has {total} lines.")
        if end < start:
            raise ToolError(f"view_end={view_end} is before view_start={start}.")
        shown: list[str] = []
        size, last = 0, start - 1
        for number in range(start, end + 1):
            row = f"{number:>5}  {_clip(lines[number - 1])}"
            if len(shown) >= MAX_VIEW_LINES or size + len(row) > MAX_VIEW_CHARS:
                break
            shown.append(row)
            size += len(row) + 1
            last = number
        out = "\n".join(shown)
        if last < end:
            out += (f"\n[shown lines {start}-{last} of {total}; for more call edit_file('view', {path!r}, "
                    f"view_start={last + 1}, view_end={min(total, last + MAX_VIEW_LINES)})]")
        elif start > 1 or end < total:
            out += f"\n[lines {start}-{end} of {total}]"
        return out

    def view_dir(self, target: Path, path: str) -> str:
        rows: list[str] = []
        more = 0
        for entry in sorted(target.iterdir()):
            for item in [entry] + (sorted(entry.iterdir()) if entry.is_dir() and not entry.is_symlink() else []):
                if len(rows) >= MAX_DIR_ENTRIES:
                    more += 1
                    continue
                rel = show_name(item.relative_to(target).as_posix())
                if item.is_dir():
                    rows.append(f"{rel}/")
                else:
                    rows.append(f"{rel}  ({item.lstat().st_size} B)")
        if not rows:
            return f"{path} is empty."
        if more:
            rows.append(f"[{more} more entries not shown; view a subdirectory to see them]")
        return "\n".join(rows)

    def create(self, path: str, file_text: str) -> str:
        target = resolve_in_files(self.files, path)
        if target.is_dir():
            raise ToolError(f"{path!r} is a directory; give a file path.")
        if target.exists() and not stat.S_ISREG(target.lstat().st_mode):
            raise ToolError(f"{path!r} exists and is not a regular file (a FIFO, socket or device); choose "
                            "another name.")
        replaced = target.exists() and target.stat().st_size > 0
        if replaced:
            self.read_text(target, path)  # refuses binary files
            rel = self.rel(target)
            if self.viewed.get(rel) != self._stamp(target):
                raise ToolError(f"{path!r} already exists and is not empty. Use str_replace/insert to change "
                                "it, or view it first and then call create again to overwrite it.")
        target.parent.mkdir(parents=True, exist_ok=True)
        self.write(target, file_text, "create")
        self.viewed.pop(self.rel(target), None)
        lines = len(file_text.splitlines())
        return f"{'Overwrote' if replaced else 'Created'} {path} ({lines} lines, {len(file_text)} chars)."

    def str_replace(self, path: str, old_str: str, new_str: str) -> str:
        target = resolve_in_files(self.files, path)
        text = self.read_text(target, path)
        if not old_str:
            raise ToolError("old_str is empty: give the exact text to replace (use insert to add text).")
        old_str, new_str = _crlf(text, old_str, new_str)
        count = text.count(old_str)
        if count != 1:
            if count == 0:
                hint = " (it matches if you ignore leading/trailing whitespace)" \
                    if old_str.strip() and old_str.strip() in text else ""
                raise ToolError(f"old_str not found in {path}{hint}. It must match exactly, including "
                                "spaces and indentation; view the lines first.")
            lines: list[str] = []
            pos = -1
            while (pos := text.find(old_str, pos + 1)) != -1 and len(lines) < 20:
                lines.append(str(text.count("\n", 0, pos) + 1))
            raise ToolError(f"old_str occurs {count} times in {path} (lines {', '.join(lines)}); include "
                            "more surrounding text so it matches exactly once.")
        pos = text.index(old_str)
        new_text = text[:pos] + new_str + text[pos + len(old_str):]
        self.write(target, new_text, "str_replace")
        first = text.count("\n", 0, pos) + 1
        last = first + new_str.count("\n")
        return f"Edited {path}:\n{self.snippet(new_text, first, last)}"

    def insert(self, path: str, insert_line: int, new_str: str) -> str:
        target = resolve_in_files(self.files, path)
        text = self.read_text(target, path)
        lines = text.splitlines(keepends=True)
        if not 0 <= insert_line <= len(lines):
            raise ToolError(f"insert_line={insert_line} is out of range: {path} has {len(lines)} lines "
                            "(0 inserts at the top).")
        newline = "\r\n" if "\r\n" in text else "\n"
        if lines and not lines[-1].endswith("\n") and insert_line == len(lines):
            lines[-1] += newline
        block = new_str if new_str.endswith("\n") or not new_str else new_str + "\n"
        (block,) = _crlf(text, block)
        new_text = "".join(lines[:insert_line]) + block + "".join(lines[insert_line:])
        self.write(target, new_text, "insert")
        added = max(1, len(block.splitlines()))
        return f"Inserted {added} lines after line {insert_line} of {path}:\n" + \
            self.snippet(new_text, insert_line + 1, insert_line + added)

    def undo(self, path: str) -> str:
        target = resolve_in_files(self.files, path)
        rel = self.rel(target)
        seqs = self._entries(rel)
        if not seqs:
            raise ToolError(f"No edit of {path} to undo.")
        folder = self._undo_dir(rel)
        seq = seqs[-1]
        meta = read_json(folder / f"{seq}.json")
        self._refuse_if_changed(target, path, folder, seq, meta)
        if meta.get("existed"):
            atomic_write_bytes(target, (folder / f"{seq}.bin").read_bytes())
            what = f"restored {path} as it was before the {meta.get('command')}"
        else:
            target.unlink(missing_ok=True)
            what = f"removed {path} (it did not exist before the {meta.get('command')})"
        for suffix in (".json", ".bin", ".after"):
            (folder / f"{seq}{suffix}").unlink(missing_ok=True)
        self.viewed.pop(rel, None)
        return f"Undid the last edit: {what}. {len(seqs) - 1} earlier edit(s) of this file can be undone."


    def _refuse_if_changed(self, target: Path, path: str, folder: Path, seq: int, meta: dict) -> None:
        """Undo must not throw away a change made after the edit (by an experiment, say): refuse with a diff."""
        if "after_sha256" not in meta:  # an edit recorded by an earlier version
            return
        try:
            now = read_regular(target, MAX_FILE_BYTES) if target.exists() else None
        except ToolError:
            now = b"\0"
        if now is not None and _sha(now) == meta["after_sha256"]:
            return
        after_path = folder / f"{seq}.after"
        edited = after_path.read_bytes().decode("utf-8", "replace") if after_path.exists() else ""
        current = "(the file is gone)\n" if now is None else now.decode("utf-8", "replace")
        diff = list(difflib.unified_diff(edited.splitlines(), current.splitlines(), "after the edit", "now",
                                         n=1, lineterm=""))
        shown = "\n".join(_clip(line) for line in diff[:20]) + ("\n..." if len(diff) > 20 else "")
        raise ToolError(f"Refused: {path} changed since the last {meta.get('command')} (by a run or another "
                        f"tool); undo would throw that change away. Changes since the edit:\n{shown}\n"
                        "Edit the file with str_replace instead.")


class EditorCapability(BaseCapability):
    """`edit_file`: view, create and edit text files inside the workspace's files/."""

    name = "editor"

    def register(self, ctx: ToolContext, box: Toolbox) -> None:
        _register(ctx, box)


def _register(ctx: ToolContext, box: Toolbox) -> None:
    editor = Editor(ctx.ws)

    def edit_file(command: str, path: str, file_text: str = "", old_str: str = "", new_str: str = "",
                  insert_line: int = 0, view_start: int = 0, view_end: int = 0) -> str:
        """View, create and edit text files in the workspace (paths relative to files/). Answers are short.

        Args:
            command: one of view, create, str_replace, insert, undo_edit.
            path: file or directory relative to files/, e.g. 'exp/train.py' or '.'.
            file_text: content for create (a non-empty file is only replaced after you view it).
            old_str: for str_replace, exact text that must occur exactly once.
            new_str: replacement text (str_replace) or text to insert (insert).
            insert_line: for insert, the line after which new_str goes (0 = top).
            view_start: for view, first line to show (1-based; 0 = start).
            view_end: for view, last line to show (0 or -1 = end).
        """
        try:
            insert_line, view_start, view_end = (int(n or 0) for n in (insert_line, view_start, view_end))
        except (TypeError, ValueError):
            raise ToolError("insert_line, view_start and view_end must be whole numbers, e.g. 12.") from None
        commands = {
            "view": lambda: editor.view(path, view_start, view_end),
            "create": lambda: editor.create(path, file_text or ""),
            "str_replace": lambda: editor.str_replace(path, old_str or "", new_str or ""),
            "insert": lambda: editor.insert(path, insert_line, new_str or ""),
            "undo_edit": lambda: editor.undo(path),
        }
        if command not in commands:
            raise ToolError(f"Unknown command {command!r}; use one of {', '.join(commands)}.")
        try:
            return commands[command]()
        except (OSError, json.JSONDecodeError) as exc:
            raise ToolError(f"{command} {path!r} failed: {exc}.") from None

    box.add_functions(edit_file)
