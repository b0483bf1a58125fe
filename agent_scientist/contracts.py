"""The contract between the planner runtime and the features that give it tools: the bottom layer.

A capability is an object with a `name`, `register(ctx, box)` and `doctor_checks(settings)`. `register`
adds tools (plain Python functions with type hints and an Args docstring), managed agents, step
callbacks, run-end hooks and guidance for the planner's instructions to the Toolbox. Features import
this module, never the runtime (`agent/`): it imports no smolagents and no litellm, and `agent/` turns
the functions into planner tools when it builds the planner. The entry points (cli, mcp, evals) pass the
list of capabilities in (`agent_scientist.capabilities.default_capabilities`); a capability that needs
another receives it in its constructor (papers get the memory's passage index).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: importing the contract runs nothing of the program
    from agent_scientist.config import Settings
    from agent_scientist.workspace import Workspace

# A doctor check: (what, ok, detail or the fix).
Check = tuple[str, bool, str]


class ToolError(Exception):
    """An expected tool failure; its message is what the model sees, so say what to do next."""


@dataclass
class ToolContext:
    """What a tool needs to act on one workspace during one process."""

    ws: Workspace
    settings: Settings
    worker_model: Any = None  # a model for the worker (memory agent, summaries), or None
    step: int = 0  # number of the planner step being executed (kept current by the planner)
    warnings: list[str] = field(default_factory=list)  # said once to the user, e.g. "memory disabled"
    exit_by: float | None = None  # after an interrupt: the monotonic time by which work at exit must end

    def exit_wait(self, seconds: float) -> float:
        """How long work at exit may wait: `seconds`, or what is left before `exit_by` after an interrupt."""
        if self.exit_by is None:
            return seconds
        return max(0.0, min(seconds, self.exit_by - time.monotonic()))


@dataclass
class Toolbox:
    """What the capabilities give one run; `agent.registry.planner_tools` makes the planner's tools of it."""

    # Plain typed functions whose docstring has an Args section: the tools we write.
    functions: list[Callable[..., Any]] = field(default_factory=list)
    # Tool objects made by the runtime (the tools of MCP servers), handed to the planner as they are.
    tools: list[Any] = field(default_factory=list)
    managed_agents: list[Any] = field(default_factory=list)
    # Called as fn(memory_step, agent) after every planner step (ActionStep or PlanningStep).
    step_callbacks: list[Callable[..., None]] = field(default_factory=list)
    # Called as fn(agent, status) when a run ends (completed, interrupted or failed).
    run_end_hooks: list[Callable[..., object]] = field(default_factory=list)  # what they return is not used
    # Guidance appended to the planner's instructions: how to use this capability's tools.
    instructions: list[str] = field(default_factory=list)
    # Reviews each final answer (agent_scientist.review.revise.AnswerReview): may send the planner back to revise.
    answer_review: Any = None
    # Which capability registered each name (agent.registry.build_toolbox fills it).
    owners: dict[str, str] = field(default_factory=dict)

    def add_functions(self, *functions: Callable[..., Any]) -> list[Callable[..., Any]]:
        """Offer plain typed, documented functions as planner tools; returns them, in order."""
        self.functions.extend(functions)
        return list(functions)

    def function(self, name: str) -> Callable[..., Any]:
        """The function registered under a tool name (KeyError when none is)."""
        for fn in self.functions:
            if fn.__name__ == name:
                return fn
        raise KeyError(name)

    def names(self) -> set[str]:
        """Every name taken: functions, ready-made tools and managed agents."""
        return ({fn.__name__ for fn in self.functions} | {t.name for t in self.tools}
                | {a.name for a in self.managed_agents})


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
