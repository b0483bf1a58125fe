"""What a run changed in files/: a snapshot before and after, below the runner and every executor."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agent_scientist.sandbox import iter_tree

MAX_WALK = 20000


def snapshot(files_dir: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under files/ except files/runs/, to find what a run changed."""
    found: dict[str, tuple[int, int]] = {}
    for path, st in iter_tree(files_dir, skip_top=("runs",), limit=4 * MAX_WALK):
        if not stat.S_ISDIR(st.st_mode):
            found[os.path.relpath(path, files_dir).replace(os.sep, "/")] = (st.st_size, st.st_mtime_ns)
            if len(found) >= MAX_WALK:
                break
    return found


def changed_since(files_dir: Path, before: dict[str, tuple[int, int]]) -> list[str]:
    """The files created or changed since `before`, sorted."""
    return sorted(p for p, stamp in snapshot(files_dir).items() if before.get(p) != stamp)
