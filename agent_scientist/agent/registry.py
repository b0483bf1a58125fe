"""The capability registry: the contract between the planner loop and the features that give it tools.

A capability is an object with a `name`, `register(ctx, box)` and `doctor_checks(settings)`. `register`
adds tools (plain Python functions with type hints and an Args docstring), managed agents, step
callbacks, run-end hooks and guidance for the planner's instructions to the Toolbox. The loop never
changes when a capability is added; `agent_scientist.capabilities.default_capabilities` lists them, and
a capability that needs another receives it in its constructor (papers get the memory's passage index).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agent_scientist.config import Settings
from agent_scientist.workspace import Workspace

# A doctor check: (what, ok, detail or the fix).
Check = tuple[str, bool, str]


@dataclass
class ToolContext:
    """What a tool needs to act on one workspace during one process."""

    ws: Workspace
    settings: Settings
    worker_model: Any = None  # a smolagents Model for the worker (memory agent, summaries), or None
    step: int = 0  # number of the planner step being executed (kept current by the planner)
    warnings: list[str] = field(default_factory=list)  # said once to the user, e.g. "memory disabled"


@dataclass
class Toolbox:
    tools: list[Any] = field(default_factory=list)  # smolagents Tool objects
    managed_agents: list[Any] = field(default_factory=list)
    # Called as fn(memory_step, agent) after every planner step (ActionStep or PlanningStep).
    step_callbacks: list[Callable[..., None]] = field(default_factory=list)
    # Called as fn(agent, status) when a run ends (completed, interrupted or failed).
    run_end_hooks: list[Callable[..., None]] = field(default_factory=list)
    # Guidance appended to the planner's instructions: how to use this capability's tools.
    instructions: list[str] = field(default_factory=list)

    def add_functions(self, *functions: Callable) -> list[Any]:
        """Turn plain typed, documented functions into planner tools; returns the tools made."""
        from agent_scientist.agent.adapter import make_tool

        made = [make_tool(fn) for fn in functions]
        self.tools.extend(made)
        return made


@runtime_checkable
class Capability(Protocol):
    """A feature that gives the planner tools; see the module docstring."""

    name: str

    def register(self, ctx: ToolContext, box: Toolbox) -> None:
        """Add this capability's tools, agents, callbacks, hooks and instructions for one run."""

    def doctor_checks(self, settings: Settings) -> list[Check]:
        """Checks for `agent-scientist doctor`: what this capability needs from the machine."""


class BaseCapability:
    """Defaults for a capability that has no doctor checks."""

    name = "capability"

    def register(self, ctx: ToolContext, box: Toolbox) -> None:  # pragma: no cover - always overridden
        raise NotImplementedError

    def doctor_checks(self, settings: Settings) -> list[Check]:
        return []


def build_toolbox(ctx: ToolContext, capabilities: list[Capability]) -> Toolbox:
    """Register each capability, in order (the order tools are shown to the model)."""
    box = Toolbox()
    for capability in capabilities:
        capability.register(ctx, box)
    return box


class ToolError(Exception):
    """An expected tool failure; its message is what the model sees, so say what to do next."""
