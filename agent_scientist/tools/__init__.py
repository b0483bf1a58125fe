"""The tool registry: which tools the planner gets, built for one workspace.

Each capability module exposes `register(ctx, box)` and adds its tools (plain Python
functions with type hints and an Args docstring), managed agents, step callbacks,
run-end hooks and extra instructions to the Toolbox. The planner loop never changes
when a capability is added: add its module to CAPABILITIES.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent_scientist.config import Settings
from agent_scientist.workspace import Workspace

log = logging.getLogger(__name__)

# Modules providing `register(ctx, box)`, in the order their tools are shown to the model.
CAPABILITIES = (
    "agent_scientist.memory.agent",  # first: it sets ctx.memory, which papers use for passages
    "agent_scientist.tools.papers",
    "agent_scientist.tools.editor",
    "agent_scientist.tools.runner",
)


@dataclass
class ToolContext:
    """What a tool needs to act on one workspace during one process."""

    ws: Workspace
    settings: Settings
    worker_model: Any = None  # a smolagents Model for the memory agent, or None
    step: int = 0  # number of the planner step being executed (kept current by the planner)
    memory: Any = None  # the workspace memory (agent_scientist.memory), or None when unavailable
    warnings: list[str] = field(default_factory=list)  # said once to the user, e.g. "memory disabled"


@dataclass
class Toolbox:
    tools: list[Any] = field(default_factory=list)  # smolagents Tool objects
    managed_agents: list[Any] = field(default_factory=list)
    # Called as fn(memory_step, agent) after every planner step (ActionStep or PlanningStep).
    step_callbacks: list[Callable[..., None]] = field(default_factory=list)
    # Called as fn(agent, status) when a run ends (completed, interrupted or failed).
    run_end_hooks: list[Callable[..., None]] = field(default_factory=list)
    # Text appended to the planner's instructions (e.g. lessons from earlier runs).
    instructions: list[str] = field(default_factory=list)

    def add_functions(self, *functions: Callable) -> None:
        """Turn plain typed, documented functions into smolagents tools."""
        from smolagents import tool

        self.tools.extend(tool(fn) for fn in functions)


def build_toolbox(ctx: ToolContext, capabilities: tuple[str, ...] | None = None) -> Toolbox:
    box = Toolbox()
    for module_name in CAPABILITIES if capabilities is None else capabilities:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # capability not built yet
            raise
        module.register(ctx, box)
    return box


class ToolError(Exception):
    """An expected tool failure; its message is what the model sees, so say what to do next."""
