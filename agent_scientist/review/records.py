"""Finding an answer's review in steps.jsonl (light: the report reads it without the agent machinery)."""

from __future__ import annotations

import hashlib
from typing import Any


def answer_hash(answer: str) -> str:
    return hashlib.sha256(answer.encode()).hexdigest()[:16]


def last_answer(records: list[dict[str, Any]]) -> tuple[int, dict[str, Any]] | None:
    """(position, record) of the latest action with a final answer."""
    for pos in range(len(records) - 1, -1, -1):
        if records[pos].get("type") == "action" and records[pos].get("final_answer") is not None:
            return pos, records[pos]
    return None


def latest_review(records: list[dict[str, Any]], answer: str | None = None) -> dict[str, Any] | None:
    """The last complete review of `answer` (default: the workspace's last answer), or None."""
    found = last_answer(records)
    if found is None:
        return None
    answer = str(found[1]["final_answer"]) if answer is None else answer
    sha = answer_hash(answer)
    for record in reversed(records):
        if record.get("type") == "review" and record.get("answer_sha") == sha:
            return record
    return None
