"""The only fake in the tests: a language model that returns prepared replies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smolagents.models import ChatMessage, MessageRole, Model
from smolagents.monitoring import TokenUsage


def code(body: str, thought: str = "I will do the next step.") -> str:
    """A planner reply in smolagents' CodeAgent format."""
    return f"Thought: {thought}\n<code>\n{body}\n</code>"


class ScriptedModel(Model):
    """Returns `replies` in order; a callable reply gets the messages and returns the text.

    Past the end of the script it answers `final_answer("done")` so a run always ends.
    Every call is recorded in `calls` (the flattened prompt text) for assertions.
    """

    def __init__(self, replies: list[str | Callable[[list], str]], model_id: str = "scripted/test",
                 tokens_in: int = 100, tokens_out: int = 20):
        super().__init__(model_id=model_id)
        self.replies = list(replies)
        self.calls: list[str] = []
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out

    def generate(self, messages: list, stop_sequences: list[str] | None = None, **kwargs: Any) -> ChatMessage:
        prompt = "\n".join(_text(m) for m in messages)
        self.calls.append(prompt)
        reply = self.replies.pop(0) if self.replies else code('final_answer("done")')
        if callable(reply):
            reply = reply(messages)
        return ChatMessage(
            role=MessageRole.ASSISTANT,
            content=reply,
            token_usage=TokenUsage(input_tokens=max(self.tokens_in, len(prompt) // 4), output_tokens=self.tokens_out),
        )


def _text(message: Any) -> str:
    content = message.content if hasattr(message, "content") else message.get("content")
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")
