"""The capabilities a research run gets, and how they depend on each other: the one list to extend."""

from __future__ import annotations

from agent_scientist.contracts import Capability


def default_capabilities() -> list[Capability]:
    """Memory first (papers index their passages in it), then papers, the editor, the runner, the review, and
    the tools of the configured MCP servers last (renamed where they clash with ours)."""
    from agent_scientist.experiments.editor import EditorCapability
    from agent_scientist.experiments.runner import RunnerCapability
    from agent_scientist.mcp.client import McpServersCapability
    from agent_scientist.memory.capability import MemoryCapability
    from agent_scientist.papers.tool import PapersCapability
    from agent_scientist.review.revise import ReviewCapability

    memory = MemoryCapability()
    return [memory, PapersCapability(passages=memory.passage_index), EditorCapability(), RunnerCapability(),
            ReviewCapability(), McpServersCapability()]  # MCP last: its tools are renamed when they clash
