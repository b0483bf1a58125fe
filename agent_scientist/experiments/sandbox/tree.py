"""The folders a run may write: walked without recursion, handed to the experiment's uid, and watched.

The write watch is the total cap on what one run adds (bytes on disk and entries), checked every
WATCH_INTERVAL seconds from the agent; the per-file cap is RLIMIT_FSIZE, set in the boot.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from collections.abc import Iterator
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


def hand_over(paths: list[Path], uid: int) -> None:
    """Give the writable folders to the experiment's uid (root agent only); hard links are left alone."""
    for root in paths:
        with contextlib.suppress(OSError):
            os.chown(root, uid, uid, follow_symlinks=False)
        for path, st in iter_tree(root):
            if st.st_uid != uid and (stat.S_ISDIR(st.st_mode) or st.st_nlink == 1):
                with contextlib.suppress(OSError):
                    os.chown(path, uid, uid, follow_symlinks=False)


class WriteWatch:
    """Stops a run that writes more than the total cap (bytes on disk, entries) into its writable folders."""

    def __init__(self, roots: list[Path], max_bytes: int, max_entries: int, stop) -> None:
        self.roots, self.max_bytes, self.max_entries, self._stop = roots, max_bytes, max_entries, stop
        self.hit = ""
        self.base = self.measure(10 ** 6)
        self._done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def measure(self, limit: int) -> tuple[int, int]:
        used = entries = 0
        for root in self.roots:
            for _, st in iter_tree(root, limit=limit - entries):
                entries += 1
                used += st.st_blocks * 512 if stat.S_ISREG(st.st_mode) else 0
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

    def finish(self) -> None:
        self._done.set()
        self.thread.join(5)
