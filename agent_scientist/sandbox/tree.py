"""The folders a run may write: walked without recursion, handed to the experiment's uid, and watched.

The write watch is the total cap on what one run adds (bytes on disk and entries), checked every
WATCH_INTERVAL seconds from the agent; the per-file cap is RLIMIT_FSIZE, set in the boot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

MB = 1024 * 1024
WATCH_INTERVAL = 0.25


def iter_tree(root: Path, skip_top: tuple[str, ...] = (), limit: int = 1_000_000) -> Iterator[tuple[str, os.stat_result]]:
    """(path, lstat) of everything under `root`, without recursion and without following links."""
    stack, seen = [str(root)], 0
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if folder == str(root) and entry.name in skip_top:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            seen += 1
            if seen > limit:
                return
            yield entry.path, st
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)


def reachable_by_others(path: str) -> bool:
    """True if a uid that is neither owner nor group can reach `path` (every folder above searchable)."""
    real = os.path.realpath(path)
    for folder in [real, *map(str, Path(real).parents)]:
        try:
            mode = os.stat(folder).st_mode
        except OSError:
            return False
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return False
    return True


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DEPTH = 256  # folders open at once in a walk by handle; deeper ones are left as they are


def walk_handles(root: Path, visit: Callable[[int, str, os.stat_result], bool]) -> None:
    """Call visit(dir_fd, name, lstat) for everything under `root`, opened by handle, never by path.

    Each folder is opened with O_NOFOLLOW|O_DIRECTORY relative to the folder above it (held open), so a
    folder swapped for a symlink mid-walk (renameat2 RENAME_EXCHANGE) is refused, not followed. `visit`
    returns True to descend into a folder. A folder visit() acts on is the one the held handle names.
    """
    try:
        top = os.open(root, _DIR)
    except OSError:
        return
    stack = [(top, _entries(top))]
    while stack:
        fd, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            os.close(fd)
            stack.pop()
            continue
        name, st = entry
        if visit(fd, name, st) and stat.S_ISDIR(st.st_mode) and len(stack) < MAX_DEPTH:
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            except OSError:  # swapped for a link or a file since it was listed: not ours to follow
                continue
            stack.append((child, _entries(child)))


def _entries(fd: int) -> Iterator[tuple[str, os.stat_result]]:
    try:
        names = os.listdir(fd)
    except OSError:
        return
    for name in names:
        try:
            yield name, os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            continue


def hand_over(paths: list[Path], uid: int) -> None:
    """Give the writable folders to the experiment's uid (root agent only), by handle: a link is never
    followed and no path is re-resolved, so a running experiment swapping folders and links cannot make
    root chown a host file. Hard links are left alone."""
    def give(fd: int, name: str, st: os.stat_result) -> bool:
        if st.st_uid != uid and (stat.S_ISDIR(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_nlink == 1)):
            flags = _DIR if stat.S_ISDIR(st.st_mode) else os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            with contextlib.suppress(OSError):
                handle = os.open(name, flags, dir_fd=fd)
                try:
                    now = os.fstat(handle)  # what was opened, checked again: the name may have moved on
                    if (now.st_ino, now.st_dev) == (st.st_ino, st.st_dev) and (
                            stat.S_ISDIR(now.st_mode) or now.st_nlink == 1):
                        os.fchown(handle, uid, uid)
                finally:
                    os.close(handle)
        return True

    for root in paths:
        with contextlib.suppress(OSError):
            top = os.open(root, _DIR)
            try:
                if os.fstat(top).st_uid != uid:
                    os.fchown(top, uid, uid)
            finally:
                os.close(top)
        walk_handles(root, give)


class WriteWatch:
    """Stops a run that writes more than the total cap (bytes on disk, entries) into its writable folders.

    Bytes are allocated blocks (st_blocks), so fallocate counts; after a stop, `clean` takes away what the
    run added, so nothing past the cap stays on disk.
    """

    def __init__(self, roots: list[Path], max_bytes: int, max_entries: int, stop) -> None:
        self.roots, self.max_bytes, self.max_entries, self._stop = roots, max_bytes, max_entries, stop
        self.hit = ""
        self.before: dict[tuple[int, int], int] = {}  # (device, inode) -> size of what was there at start
        self.base = self.measure(10 ** 6, self.before)
        self.complete = self.base[1] < 10 ** 6  # else what was there before is not fully known
        self._done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def measure(self, limit: int, seen: dict[tuple[int, int], int] | None = None) -> tuple[int, int]:
        used = entries = 0
        for root in self.roots:
            for _, st in iter_tree(root, limit=limit - entries):
                entries += 1
                used += st.st_blocks * 512 if stat.S_ISREG(st.st_mode) else 0
                if seen is not None:
                    seen[(st.st_dev, st.st_ino)] = st.st_size
        return used, entries

    def _loop(self) -> None:
        interval = WATCH_INTERVAL
        while not self._done.wait(interval):
            started = time.monotonic()
            used, entries = self.measure(self.base[1] + self.max_entries + 2)
            interval = max(WATCH_INTERVAL, 4 * (time.monotonic() - started))
            if self.max_bytes > 0 and used - self.base[0] > self.max_bytes:
                self.hit = f"it wrote more than {self.max_bytes // MB} MB"
            elif self.max_entries > 0 and entries - self.base[1] > self.max_entries:
                self.hit = f"it created more than {self.max_entries} files and folders"
            if self.hit:
                self._stop()
                return

    def clean(self, keep: Path) -> str:
        """After a stop (the run's processes dead): delete what the run created, cut back what it grew.

        `keep` (the run's output folder, written by the agent) is left alone. Returns a sentence for the answer.
        """
        try:
            kept = os.stat(keep)
            keep_id = (kept.st_dev, kept.st_ino)
        except OSError:
            keep_id = (-1, -1)
        if not self.complete:
            return "its folders hold too many files to tell what it added, so nothing was removed"
        removed: list[str] = []
        cut: list[str] = []

        def undo(fd: int, name: str, st: os.stat_result) -> bool:
            key = (st.st_dev, st.st_ino)
            if key == keep_id:
                return False
            if key not in self.before:
                with contextlib.suppress(OSError):
                    if stat.S_ISDIR(st.st_mode):
                        shutil.rmtree(name, dir_fd=fd)  # by handle too: links inside are removed, never followed
                    else:
                        os.unlink(name, dir_fd=fd)
                    removed.append(name)
                return False
            if stat.S_ISREG(st.st_mode) and st.st_size > self.before[key]:
                with contextlib.suppress(OSError):
                    handle = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
                    try:
                        os.ftruncate(handle, self.before[key])
                        cut.append(name)
                    finally:
                        os.close(handle)
            return True

        for root in self.roots:
            walk_handles(root, undo)
        parts = []
        if removed:
            parts.append(f"removed {len(removed)} file(s) and folder(s) it created ({_names(removed)})")
        if cut:
            parts.append(f"cut {len(cut)} file(s) it grew back to their earlier size ({_names(cut)})")
        return "; ".join(parts) if parts else "nothing it wrote was left to remove"

    def finish(self) -> None:
        self._done.set()
        self.thread.join(5)


def _names(names: list[str], shown: int = 5) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
