"""A minimal capability, to test that the registry plugs tools, callbacks and hooks into the loop."""

from __future__ import annotations

from smolagents.models import ChatMessage, MessageRole

from agent_scientist.tools import Toolbox, ToolContext

events: list[str] = []


def register(ctx: ToolContext, box: Toolbox) -> None:
    def ask_worker(question: str) -> str:
        """Ask the worker model a question.

        Args:
            question: What to ask.
        """
        reply = ctx.worker_model.generate([ChatMessage(role=MessageRole.USER, content=question)])
        return f"worker says: {reply.content} (step {ctx.step})"

    box.add_functions(ask_worker)
    box.step_callbacks.append(lambda step, agent=None: events.append(f"step {step.step_number}"))
    box.run_end_hooks.append(lambda agent, status: events.append(f"end {status}"))
    box.instructions.append("Echo capability instructions: be brief.")
