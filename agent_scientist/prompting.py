"""Prompts are data: YAML templates for the planner, the memory agent, the reviewer and eval's graders.

`load(name)` reads `prompts/<name>.yaml`, installed as the data package agent_scientist.prompts (parsed once,
a fresh copy each call); `render` fills a template. The loader lives here, inside the package, because the
top-level prompts/ folder is mapped in by setuptools' package-dir, which type checkers do not follow.
"""

from __future__ import annotations

import copy
import importlib.resources
import re
from functools import lru_cache
from typing import Any

_PACKAGE = "agent_scientist.prompts"  # prompts/ in the repository


def load(name: str) -> dict[str, Any]:
    """The prompt file `<name>.yaml` of this package (planner, memory, reviewer, evidence, eval), as a dict."""
    return copy.deepcopy(_parsed(name))


@lru_cache(maxsize=8)
def _parsed(name: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(importlib.resources.files(_PACKAGE).joinpath(f"{name}.yaml").read_text())


def render(template: str, **fields: Any) -> str:
    """Fill `{{name}}` placeholders (no Jinja: notes may contain braces); unknown names stay as written."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(fields.get(m.group(1), m.group(0))), template)
