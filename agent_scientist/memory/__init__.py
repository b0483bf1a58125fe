"""The memory capability: a per-workspace vector memory of notes, paper passages and history summaries.

Public API: `open_memory(ws, settings)` (the MemoryStore, or MemoryUnavailable) and
`read_notes(ws, settings, kinds=None, status="active")` for readers such as the report (MemoryUnavailable
when the store cannot be used).
The planner's tools and the memory agent are registered by `agent_scientist.memory.capability`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_scientist.config import Settings
from agent_scientist.records import Note
from agent_scientist.workspace import Workspace

if TYPE_CHECKING:
    from agent_scientist.memory.store import KINDS, MemoryStore, MemoryUnavailable

__all__ = ["KINDS", "MemoryStore", "MemoryUnavailable", "read_notes", "open_memory"]


def __getattr__(name: str) -> Any:
    """The store's names on first use: a reader of a workspace without memory (export) skips numpy and chromadb."""
    if name == "MemoryUnavailable":  # without numpy or chromadb: a reader catching it need not open a store
        from agent_scientist.memory.connection import MemoryUnavailable

        return MemoryUnavailable
    if name in ("KINDS", "MemoryStore"):
        from agent_scientist.memory import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_memory(ws: Workspace, settings: Settings, for_reading: bool = False) -> MemoryStore:
    """The workspace's memory store; raises MemoryUnavailable with a clear message if it cannot open.

    `for_reading`: opened for a command that mostly reads, without importing chromadb where it can (store.py).
    """
    from agent_scientist.memory.store import open_store

    return open_store(ws, settings, for_reading)


def read_notes(ws: Workspace, settings: Settings, kinds: list[str] | None = None,
               status: str | None = "active") -> list[Note]:
    """Notes of the workspace ordered by (created_at, id); [] when nothing was ever stored.

    `status` is "active", "superseded", or None for both. A store that exists but cannot be used raises
    MemoryUnavailable (with the fix), so a reader can tell "no notes" from "notes it cannot read".
    """
    folder = ws.memory_dir
    if not settings.memory_url and not (folder / "chroma.sqlite3").exists() and not folder.is_file():
        return []  # nothing was ever stored: do not create a store just to read it
    from agent_scientist.memory.store import open_store

    return open_store(ws, settings).list_notes(kinds=kinds, status=status)
