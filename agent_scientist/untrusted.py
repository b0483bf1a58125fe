"""Text from outside (paper pages, abstracts, search results, MCP servers' answers, experiment output),
framed so the model can tell data from instructions: `<<untrusted source=S>> ... <<end untrusted>>`.

One home for the framing; it imports nothing of ours. Inside a frame every `<<` is written `< <`, so
the text can neither close its frame nor open a forged one. The planner's and the memory agent's
instructions (prompts/planner.yaml, prompts/memory.yaml) say in one line that framed text is data.
"""

from __future__ import annotations

import re
from typing import Any

OPEN, CLOSE = "<<untrusted", "<<end untrusted>>"
_SOURCE = re.compile(r"[^\w:./@+-]+")


def escape(text: str) -> str:
    """`text` with no `<<` left, so no frame marker can appear in it."""
    while "<<" in text:
        text = text.replace("<<", "< <")
    return text


def mark(text: str, source: str = "") -> str:
    """`text` framed as untrusted data; `source` (e.g. 'arXiv:2401.01234 p.3') says where it came from."""
    where = _SOURCE.sub(" ", source).strip()[:80]
    head = f"{OPEN} source={where}>>" if where else f"{OPEN}>>"
    return f"{head}\n{escape(text)}\n{CLOSE}"


def mark_inline(text: str) -> str:
    """A short frame for one field of a record (an abstract): no source, no line breaks added."""
    return f"{OPEN}>>{escape(text)}{CLOSE}" if text else text


def mark_fields(record: dict, framed: tuple[str, ...]) -> dict:
    """A copy of `record` with the `framed` fields framed inline and every other string escaped."""
    return {k: _leaves(v, mark_inline if k in framed else escape) for k, v in record.items()}


def escape_all(value: Any) -> Any:
    """Every string inside `value` (dicts, lists, tuples) escaped; other values as they are."""
    return _leaves(value, escape)


def mark_all(value: Any, source: str = "") -> Any:
    """An answer from outside: a string framed whole, or every string inside a structure framed inline."""
    return mark(value, source) if isinstance(value, str) else _leaves(value, mark_inline)


def _leaves(value: Any, change: Any) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {k: _leaves(v, change) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_leaves(v, change) for v in value)
    return value


_FRAME = re.compile(r"<<untrusted(?: source=[^>\n]*)?>>\n?|\n?<<end untrusted>>")


def unmark(text: str) -> str:
    """`text` without its frames, for a person (the CLI); escaped `< <` is left as it is."""
    return _FRAME.sub("", text)
