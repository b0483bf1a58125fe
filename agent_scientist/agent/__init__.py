"""The agent runtime: the planner loop, history replay, the capability registry, models and the live view.

This package is the only place that imports smolagents; every capability talks to it through
`registry` (Toolbox, ToolContext, ToolError).
"""
