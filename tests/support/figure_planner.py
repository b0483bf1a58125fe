"""A planner (the real CodeAgent through agent/adapter.py) with the papers tools of one toolbox, run once on a
task: the figure tests' shared harness."""

from __future__ import annotations

from typing import Any

from agent_scientist.agent import adapter
from agent_scientist.agent.interpreter import close_executors
from agent_scientist.agent.models import build_model
from agent_scientist.agent.registry import Toolbox, planner_tools
from agent_scientist.config import Settings
from agent_scientist.prompting import load as load_prompts


def run_planner(settings: Settings, box: Toolbox, task: str, max_steps: int = 8) -> Any:
    """The planner's final answer to `task`, with `box`'s tools and step callbacks; its interpreter closed."""
    agent = adapter.planner_agent(tools=planner_tools(box), model=build_model(settings),
                                  prompt_templates=load_prompts("planner"), instructions=None,
                                  authorized_imports=[], managed_agents=[], step_callbacks=box.step_callbacks,
                                  planning_interval=0, max_steps=max_steps, max_print_chars=6000, settings=settings)
    try:
        return agent.run(task)
    finally:
        close_executors(agent)  # the planner's sandboxed interpreter
