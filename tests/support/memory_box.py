"""Register the memory capability alone, for tests that look at the store it opened."""

from __future__ import annotations

from typing import Any

from agent_scientist.agent.registry import build_toolbox
from agent_scientist.contracts import Toolbox, ToolContext
from agent_scientist.memory.capability import MemoryCapability


class MemoryRun:
    """The tool context of a run with memory; `.memory` is the store the capability opened (or None)."""

    def __init__(self, ctx: ToolContext, cap: MemoryCapability):
        self.ctx, self.cap = ctx, cap

    @property
    def memory(self) -> Any:
        return self.cap.store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ctx, name)


def memory_box(ctx: ToolContext) -> tuple[MemoryRun, Toolbox]:
    cap = MemoryCapability()
    return MemoryRun(ctx, cap), build_toolbox(ctx, [cap])
