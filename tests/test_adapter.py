"""Pins the smolagents behaviour agent/adapter.py relies on: an upgrade that changes it fails here."""

from __future__ import annotations

import pytest
from support.scripted import ScriptedModel, code

from agent_scientist.agent import adapter
from agent_scientist.agent.history import rebuild_history
from agent_scientist.prompting import load as load_prompts


def _agent(model, callbacks, max_steps=5, tools=()):
    return adapter.planner_agent(tools=list(tools), model=model, prompt_templates=load_prompts("planner"), instructions=None,
                                 authorized_imports=[], managed_agents=[], step_callbacks=callbacks,
                                 planning_interval=0, max_steps=max_steps, max_print_chars=1000)


def test_stop_before_next_step_ends_the_run_with_an_agent_error_after_the_current_step():
    model = ScriptedModel([code("print(1)"), code("print(2)"), code('final_answer("never")')])
    seen = []

    def callback(step, agent=None):
        seen.append(step.step_number)
        adapter.stop_before_next_step(agent)  # callbacks receive the agent as a keyword

    with pytest.raises(adapter.AgentError):
        _agent(model, [callback]).run("task")
    assert seen == [1] and len(model.calls) == 1


def test_no_forced_final_answer_call_at_our_step_limit():
    """planner_agent gives smolagents one step more than ours, so our callback always stops first."""
    model = ScriptedModel([code(f"print({i})") for i in range(10)])
    count = []

    def callback(step, agent=None):
        count.append(step.step_number)
        if len(count) == 2:
            adapter.stop_before_next_step(agent)

    with pytest.raises(adapter.AgentError):
        _agent(model, [callback], max_steps=2).run("task")
    assert len(model.calls) == 2  # no extra call asking the model for a final answer


def test_replayed_history_is_what_the_next_prompt_is_built_from():
    records = [{"type": "run_start", "task": "Old task?"},
               {"type": "action", "step": 1, "code": "print('x')", "observation": "marker-observation",
                "error": "marker-error"}]
    model = ScriptedModel([code('final_answer("ok")')])
    agent = _agent(model, [])
    adapter.set_history(agent, rebuild_history(records))
    assert agent.run("Go on.", reset=False) == "ok"
    assert "marker-observation" in model.calls[0] and "marker-error" in model.calls[0]
    assert "Old task?" in model.calls[0]
    assert str(adapter.make_error("plain text")) == "plain text"


def test_tools_from_typed_functions_and_plain_text_answers():
    def add(a: int, b: int = 2) -> int:
        """Add two numbers.

        Args:
            a: The first.
            b: The second.
        """
        return a + b

    made = adapter.make_tool(add)
    assert made.name == "add" and set(made.inputs) == {"a", "b"} and made.inputs["b"]["nullable"]
    assert made(a=1) == 3
    model = ScriptedModel([code("print(add(40))\nfinal_answer(add(40, 2))")])
    assert _agent(model, [], tools=[made]).run("add") == 42
    worker = ScriptedModel(["  the answer  "])
    assert adapter.ask_reply(worker, "system text", "user text")[0] == "the answer"
    assert "system text" in worker.calls[0] and "user text" in worker.calls[0]
