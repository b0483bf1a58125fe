"""Talking to the worker model for the memory's own work: prompts from memory.yaml, one bounded call."""

from __future__ import annotations

import json
import re
from typing import Any

from agent_scientist.prompting import load


def prompts() -> dict[str, Any]:
    """The memory agent's prompt templates (prompts/memory.yaml)."""
    return load("memory")


def ask(model: Any, key: str, **fields: Any) -> str:
    """One call to the worker model with prompt `key` of memory.yaml; its text (raises on model errors)."""
    from agent_scientist.agent.models import ask_prompt

    return ask_prompt(model, prompts()[key], **fields)


def parse_json(text: str) -> Any:
    """The first JSON object or list in a model's reply (code fences and chatter around it ignored)."""
    text = re.sub(r"```(?:json)?", "", text)
    for opener, closer in (("{", "}"), ("[", "]")):
        start = text.find(opener)
        end = text.rfind(closer)
        if start != -1 and end > start:
            try:
                return json.loads(text[start : end + 1])
            except json.JSONDecodeError:
                continue
    return None
