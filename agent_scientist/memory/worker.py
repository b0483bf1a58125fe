"""Talking to the worker model for the memory's own work: prompts from memory.yaml, one bounded call."""

from __future__ import annotations

import importlib.resources
import json
import logging
import re
from functools import lru_cache
from typing import Any

import yaml

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def prompts() -> dict[str, Any]:
    """The memory agent's prompt templates (prompts/memory.yaml)."""
    text = importlib.resources.files("agent_scientist.prompts").joinpath("memory.yaml").read_text()
    return yaml.safe_load(text)


def render(template: str, **fields: Any) -> str:
    """Fill `{{name}}` placeholders (no Jinja: notes may contain braces)."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(fields.get(m.group(1), m.group(0))), template)


def ask(model: Any, key: str, **fields: Any) -> str:
    """One call to the worker model with prompt `key`; returns its text (raises on model errors)."""
    from agent_scientist.agent.adapter import ask_text

    spec = prompts()[key]
    return ask_text(model, spec["system"].strip(), render(spec["user"], **fields))


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
