"""The agent runtime: the planner loop, history replay, the toolbox, models and the live view.

This package is the only place that imports smolagents; the capabilities talk to it through
`agent_scientist.contracts` (Toolbox, ToolContext, ToolError), and `registry` builds a run's toolbox.
"""
