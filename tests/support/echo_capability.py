"""A minimal capability, to test that the registry plugs tools, callbacks and hooks into the loop."""

from __future__ import annotations

from smolagents.models import ChatMessage, MessageRole

from agent_scientist.contracts import BaseCapability, Toolbox, ToolContext


class EchoCapability(BaseCapability):
    name = "echo"

    def __init__(self) -> None:
        self.events: list[str] = []

    def register(self, ctx: ToolContext, box: Toolbox) -> None:
        def ask_worker(question: str) -> str:
            """Ask the worker model a question.

            Args:
                question: What to ask.
            """
            reply = ctx.worker_model.generate([ChatMessage(role=MessageRole.USER, content=question)])
            return f"worker says: {reply.content} (step {ctx.step})"

        box.add_functions(ask_worker)
        box.step_callbacks.append(lambda step, agent=None: self.events.append(f"step {step.step_number}"))
        box.run_end_hooks.append(lambda agent, status: self.events.append(f"end {status}"))
        box.instructions.append("Echo capability instructions: be brief.")
