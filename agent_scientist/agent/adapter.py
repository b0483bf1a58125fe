"""The one module that imports smolagents: every use of its classes and internals goes through here.

The behaviour we rely on (stopping before the next step, no forced answer at the step limit, replaying
memory steps, silent errors, tools from typed functions, step callbacks) is pinned by tests/test_adapter.py,
so an upgrade of smolagents that changes it fails there, in one place. Import this module lazily (inside
functions) where start-up time matters: it loads smolagents.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from smolagents import CodeAgent, LiteLLMModel, tool
from smolagents.local_python_executor import CodeOutput
from smolagents.memory import ActionStep, MemoryStep, PlanningStep, TaskStep
from smolagents.models import ChatMessage, MessageRole
from smolagents.monitoring import LogLevel, Timing, TokenUsage
from smolagents.utils import AgentError, AgentParsingError

from agent_scientist.agent.interpreter import SandboxedExecutor
from agent_scientist.records import EMPTY_REPLY

__all__ = [
    "ActionStep", "AgentError", "ChatMessage", "CodeOutput", "LiteLLMModel", "MemoryStep", "MessageRole", "PlanningStep",
    "TaskStep", "Timing", "TokenUsage", "ask_reply", "attach_images", "load_images", "drop_old_images", "reply_message", "stream_request", "is_parse_error", "history_steps", "make_error", "make_tool", "managed_agent",
    "planner_agent", "set_history", "stop_before_next_step", "text_message",
]


def make_tool(fn: Callable) -> Any:
    """A planner tool from a plain typed function whose docstring has an Args section."""
    return tool(fn)


def planner_agent(*, tools: list[Any], model: Any, prompt_templates: dict[str, Any], instructions: str | None,
                  authorized_imports: list[str], managed_agents: list[Any], step_callbacks: list[Callable],
                  planning_interval: int, max_steps: int, max_print_chars: int, executor: Any = None,
                  settings: Any = None) -> Any:
    """The planner: a CodeAgent whose step limit is enforced by our callbacks, never by a forced answer.

    smolagents asks the model for a final answer once `max_steps` is reached; giving it one step more than
    ours means our recorder always stops the run first (see `stop_before_next_step`). Its code runs in
    `executor` (default: a SandboxedExecutor under `settings`' sandbox limits), never in this process.
    """
    return CodeAgent(
        tools=tools,
        model=model,
        prompt_templates=prompt_templates,
        instructions=instructions,
        additional_authorized_imports=authorized_imports,
        managed_agents=managed_agents or None,
        step_callbacks={ActionStep: step_callbacks, PlanningStep: step_callbacks},
        planning_interval=planning_interval or None,
        max_steps=max_steps + 1,
        verbosity_level=LogLevel.OFF,
        max_print_outputs_length=max_print_chars,
        executor=executor or SandboxedExecutor(authorized_imports, max_print_chars, settings),
    )


def managed_agent(*, tools: list[Any], model: Any, name: str, description: str, instructions: str,
                  max_steps: int, executor: Any = None, settings: Any = None) -> Any:
    """A helper agent the planner calls like a tool (e.g. the memory agent), silent like the planner.

    Its code runs in `executor` (default: a SandboxedExecutor under `settings`), as the planner's does.
    """
    return CodeAgent(tools=tools, model=model, name=name, description=description, instructions=instructions,
                     max_steps=max_steps, verbosity_level=LogLevel.OFF,
                     executor=executor or SandboxedExecutor([], MANAGED_PRINT_CHARS, settings))


MANAGED_PRINT_CHARS = 50_000  # smolagents' DEFAULT_MAX_LEN_OUTPUT, what a managed agent had in-process


def stop_before_next_step(agent: Any) -> None:
    """Ask a running agent to stop once the current step's callbacks are done (it raises AgentError then)."""
    agent.interrupt_switch = True


def history_steps(agent: Any) -> list[Any]:
    """The agent's own record of its steps (what the next prompt is built from)."""
    return agent.memory.steps


def set_history(agent: Any, steps: list[Any]) -> None:
    """Replace the agent's steps in place, e.g. with a replayed or trimmed history."""
    agent.memory.steps[:] = steps


class _SilentLogger:
    def log(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log_error(self, *args: Any, **kwargs: Any) -> None:
        pass


def make_error(text: str) -> AgentError:
    """An AgentError for a replayed step; AgentError needs a logger only to log itself, a silent one will do."""
    return AgentError(text, _SilentLogger())


def text_message(role: str, text: str) -> ChatMessage:
    """A chat message of one text part; role is "system", "user" or "assistant"."""
    return ChatMessage(role=MessageRole(role), content=[{"type": "text", "text": text}])


def ask_reply(model: Any, system: str, user: str, max_tokens: int = 0,
              images: Sequence[Any] = ()) -> tuple[str, int, int]:
    """One call to a model with a system and a user message (text, then the PNG files `images` as image parts,
    sent as base64 data URLs): (its text, tokens in, tokens out)."""
    kwargs: dict[str, Any] = {"max_tokens": max_tokens} if max_tokens else {}
    parts = [{"type": "text", "text": user}, *({"type": "image", "image": image} for image in load_images(images))]
    reply = model.generate([text_message("system", system), ChatMessage(role=MessageRole.USER, content=parts)],
                           **kwargs)
    content = reply.content
    if isinstance(content, list):
        content = "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    usage = getattr(reply, "token_usage", None)
    return (str(content or "").strip(), int(getattr(usage, "input_tokens", 0) or 0),
            int(getattr(usage, "output_tokens", 0) or 0))


def load_images(paths: Sequence[Any]) -> list[Any]:
    """PNG files read into RGB images, the form smolagents encodes as image parts."""
    from PIL import Image

    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


def attach_images(step: Any, paths: list[Any]) -> int:
    """Attach PNG files to an action step's observation, so the model sees them in its next prompt; the count."""
    if not isinstance(step, ActionStep):
        return 0
    images = load_images(paths)
    step.observations_images = [*(step.observations_images or []), *images]
    return len(images)


def drop_old_images(agent: Any, keep: int = 3, current: Any = None) -> None:
    """Images only in the last `keep` action steps' observations (counting `current`, the step whose callbacks
    run, which smolagents adds to the history after them): older ones leave the prompt, like old text."""
    steps = [s for s in history_steps(agent) if isinstance(s, ActionStep)] if agent is not None else []
    if isinstance(current, ActionStep) and all(s is not current for s in steps):
        steps.append(current)
    for step in steps[:-keep] if keep else steps:
        step.observations_images = None


def stream_request(model: Any, messages: list[Any], **kwargs: Any) -> dict[str, Any]:
    """The litellm.completion arguments smolagents' LiteLLMModel would send for `messages`, streamed with usage.
    A call's own `max_tokens` (smolagents lets the model's override it) is kept when it is the smaller."""
    request = model._prepare_completion_kwargs(
        messages=messages, model=model.model_id, api_base=model.api_base, api_key=model.api_key,
        custom_role_conversions=model.custom_role_conversions, convert_images_to_image_urls=True, **kwargs)
    cap = kwargs.get("max_tokens")
    if cap:
        request["max_tokens"] = min(int(cap), int(request.get("max_tokens") or cap))
    return {**request, "stream": True, "stream_options": {"include_usage": True}}


def reply_message(text: str, tokens_in: int, tokens_out: int, raw: Any) -> ChatMessage:
    """The assistant message a streamed reply adds up to, shaped as LiteLLMModel.generate returns it."""
    return ChatMessage(role=MessageRole.ASSISTANT, content=text, raw=raw,
                       token_usage=TokenUsage(input_tokens=tokens_in, output_tokens=tokens_out))


def is_parse_error(error: Any) -> bool:
    """A reply with no code block that parses, or with nothing to run (as opposed to code that ran and failed)."""
    return (isinstance(error, AgentParsingError) or "Code parsing failed" in str(error or "")
            or EMPTY_REPLY in str(error or ""))
