"""Prompts are data: YAML templates for the planner, the memory agent, the reviewer and eval's graders.

`load(name)` reads `<name>.yaml` (parsed once, a fresh copy each call); `render` fills a template.
"""

from __future__ import annotations

import copy
import importlib.resources
import re
from functools import lru_cache
from typing import Any


def load(name: str) -> dict[str, Any]:
    """The prompt file `<name>.yaml` of this package (planner, memory, reviewer, evidence, eval), as a dict."""
    return copy.deepcopy(_parsed(name))


@lru_cache(maxsize=8)
def _parsed(name: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(importlib.resources.files(__name__).joinpath(f"{name}.yaml").read_text())


def render(template: str, **fields: Any) -> str:
    """Fill `{{name}}` placeholders (no Jinja: notes may contain braces); unknown names stay as written."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(fields.get(m.group(1), m.group(0))), template)
