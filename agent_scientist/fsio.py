"""Durable file writes: atomic replace for documents, append+flush+fsync for logs.

Every piece of state on disk goes through here, so a SIGKILL at any instant leaves
either the old or the new document, and at most a half-written last log line.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _file_mode() -> int:
    """The mode a plain open() would give a new file: 0o666 less the umask (mkstemp alone gives 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` so readers see the old file or the new one, never a mix; `durable=False` skips
    the fsync, for a record only a live view reads (a crash may lose it, never half-write it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)  # follow the umask, like the appended logs
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable)


def atomic_write_json(path: Path, obj: Any, durable: bool = True) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", durable)


class CorruptLog(ValueError):
    """A JSON-lines log has unreadable lines other than a half-written last one."""

    def __init__(self, path: Path, lines: list[int]):
        self.path, self.lines = Path(path), lines
        shown = ", ".join(str(n) for n in lines[:10]) + (" ..." if len(lines) > 10 else "")
        super().__init__(f"{path}: unreadable line(s) {shown}")


def corrupt_path(path: Path) -> Path:
    """Where unreadable lines of a log are kept: steps.jsonl -> steps.corrupt.jsonl."""
    path = Path(path)
    return path.with_name(f"{path.stem}.corrupt{path.suffix}")


def append_jsonl(path: Path, record: Mapping[str, Any]) -> None:
    """Append one JSON line and flush it to disk before returning."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    with open(path, "r+b" if path.exists() else "wb") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                # A writer killed mid-line left a torn record: keep it aside, then cut it off,
                # so the log holds only whole lines (torn text in the middle would read as damage).
                start, torn = _torn_tail(fh, end)
                if torn:
                    keep_lines(path, torn)  # kept first: a kill now leaves it in both places
                    fh.truncate(start)
                else:
                    fh.write(b"\n")  # a whole record missing only its newline stays
                fh.seek(0, os.SEEK_END)
        fh.write(line.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def append_text(path: Path, text: str) -> None:
    """Append text (a log entry: a traceback) and flush it to disk before returning."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        fh.write(text.encode("utf-8", "replace"))
        fh.flush()
        os.fsync(fh.fileno())


def _torn_tail(fh: Any, end: int) -> tuple[int, list[tuple[int, bytes]]]:
    """Where the last line of an open log starts, and it as (line number, bytes) if torn ([] if whole)."""
    fh.seek(0)
    data = fh.read(end)
    start = data.rfind(b"\n") + 1
    try:
        if isinstance(json.loads(data[start:].decode("utf-8")), dict):
            return start, []
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass
    return start, [(data.count(b"\n") + 1, data[start:])]


def keep_lines(path: Path, lines: list[tuple[int, bytes]]) -> None:
    """Append unreadable lines of `path` to its .corrupt file, flushed, each as a JSON record."""
    if not lines:
        return
    with open(corrupt_path(path), "ab") as fh:
        for number, raw in lines:
            record = {"line": number, "text": raw.decode("utf-8", errors="backslashreplace")}
            fh.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def scan_jsonl(path: Path) -> tuple[list[tuple[int, bytes, dict]], list[tuple[int, bytes]], bool]:
    """Every line of a log: (readable (number, bytes, record)), (unreadable (number, bytes)), torn_last.

    `torn_last` says the last unreadable line has no newline: the expected damage of a kill.
    """
    path = Path(path)
    if not path.exists():
        return [], [], False
    good: list[tuple[int, bytes, dict]] = []
    bad: list[tuple[int, bytes]] = []
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn = False
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            obj = None
        if isinstance(obj, dict):
            good.append((number, raw, obj))
        else:
            bad.append((number, raw))
            torn = number == len(lines) and not data.endswith(b"\n")
    return good, bad, torn


def read_jsonl(path: Path, strict: bool = False) -> list[dict[str, Any]]:
    """Read a JSON-lines log, skipping a last line a killed writer left half-written.

    With `strict`, any other unreadable line raises CorruptLog (naming the lines) instead of
    being skipped, so that no record is silently lost.
    """
    good, bad, torn = scan_jsonl(path)
    if strict:
        damaged = [number for number, _ in (bad[:-1] if torn else bad)]
        if damaged:
            raise CorruptLog(path, damaged)
    return [record for _, _, record in good]


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
