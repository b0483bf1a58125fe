"""The memory capability: a per-workspace vector memory of notes, paper passages and history summaries.

Public API: `open_memory(ws, settings)` (the MemoryStore, or MemoryUnavailable) and
`read_notes(ws, settings, kinds=None, status="active")` for readers such as the report.
The planner's tools and the memory agent are registered by `agent_scientist.memory.capability`.
"""

from __future__ import annotations

import logging

from agent_scientist.config import Settings
from agent_scientist.memory.store import KINDS, MemoryStore, MemoryUnavailable, open_store
from agent_scientist.records import Note
from agent_scientist.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["KINDS", "MemoryStore", "MemoryUnavailable", "read_notes", "open_memory"]


def open_memory(ws: Workspace, settings: Settings) -> MemoryStore:
    """The workspace's memory store; raises MemoryUnavailable with a clear message if it cannot open."""
    return open_store(ws, settings)


def read_notes(ws: Workspace, settings: Settings, kinds: list[str] | None = None,
               status: str | None = "active") -> list[Note]:
    """Notes of the workspace ordered by (created_at, id); [] when there is no usable memory.

    `status` is "active", "superseded", or None for both.
    """
    if not settings.memory_url and not (ws.memory_dir / "chroma.sqlite3").exists():
        return []  # nothing was ever stored: do not create a store just to read it
    try:
        return open_store(ws, settings).list_notes(kinds=kinds, status=status)
    except MemoryUnavailable as exc:
        log.warning("memory: %s", exc)
        return []
