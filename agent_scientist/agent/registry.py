"""Building one run's toolbox from the capabilities, and the planner's tools from it (smolagents, lazily).

The contract types live in `agent_scientist.contracts`; the loop and the MCP server both build their
toolbox here, so the order and the tools are the same in both.
"""

from __future__ import annotations

from typing import Any

from agent_scientist.contracts import Capability, Toolbox, ToolContext


def build_toolbox(ctx: ToolContext, capabilities: list[Capability]) -> Toolbox:
    """Register each capability, in order (the order tools are shown to the model)."""
    box = Toolbox()
    for capability in capabilities:
        before = box.names()
        capability.register(ctx, box)
        box.owners.update(dict.fromkeys(box.names() - before, capability.name))
    return box


def planner_tools(box: Toolbox) -> list[Any]:
    """The toolbox's functions as smolagents tools, then its ready-made tools, in registration order."""
    from agent_scientist.agent.adapter import make_tool

    return [make_tool(fn) for fn in box.functions] + list(box.tools)
