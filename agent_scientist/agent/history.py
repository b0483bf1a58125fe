"""The planner's memory as data: rebuild it from steps.jsonl, and fold old steps into summaries.

smolagents has no loader for its memory, so resume replays our step records into
ActionStep/PlanningStep objects. A `summary` record replaces the steps it covers with one
SummaryStep, both when the memory agent trims a live run and when a resume rebuilds it,
so the model sees the same trimmed view either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent_scientist.agent.adapter import (
    ActionStep,
    ChatMessage,
    MemoryStep,
    MessageRole,
    PlanningStep,
    TaskStep,
    Timing,
    TokenUsage,
    make_error,
)


@dataclass
class SummaryStep(MemoryStep):
    """Stands in the planner's memory for steps first..last, which stay in full in steps.jsonl."""

    first: int
    last: int
    text: str

    def to_messages(self, summary_mode: bool = False) -> list[ChatMessage]:
        body = (
            f"Summary of steps {self.first}-{self.last} (trimmed from your context; "
            f"the full record is kept on disk):\n{self.text}"
        )
        return [ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": body}])]

    def dict(self) -> dict[str, Any]:
        return {"type": "summary", "covers": [self.first, self.last], "text": self.text}


def record_to_step(record: dict[str, Any]) -> MemoryStep | None:
    """One steps.jsonl record as the memory step the model saw when it was live."""
    kind = record.get("type")
    timing = Timing(start_time=float(record.get("start_ts") or 0.0), end_time=float(record.get("end_ts") or 0.0))
    usage = TokenUsage(input_tokens=int(record.get("tokens_in") or 0), output_tokens=int(record.get("tokens_out") or 0))
    if kind == "action":
        step = ActionStep(step_number=int(record.get("step") or 0), timing=timing, token_usage=usage)
        step.model_output = record.get("model_output")
        step.code_action = record.get("code")
        step.observations = record.get("observation")
        if record.get("error"):
            step.error = make_error(str(record["error"]))
        if record.get("final_answer") is not None:
            step.action_output = record["final_answer"]
            step.is_final_answer = True
        return step
    if kind == "planning":
        plan = record.get("plan") or record.get("model_output") or ""
        return PlanningStep(
            model_input_messages=[],
            model_output_message=ChatMessage(role=MessageRole.ASSISTANT, content=plan),
            plan=plan,
            timing=timing,
            token_usage=usage,
        )
    if kind in ("run_start", "review") and record.get("task"):
        return TaskStep(task=record["task"])  # a review's task is the revision the planner was asked for
    return None


def rebuild_history(records: Sequence[Mapping[str, Any]]) -> list[MemoryStep]:
    """The planner memory for a workspace's records, with recorded summaries applied."""
    steps = [s for s in (record_to_step(dict(r)) for r in records) if s is not None]
    for record in records:
        if record.get("type") == "summary" and record.get("covers"):
            first, last = (int(x) for x in record["covers"])
            steps = apply_summary(steps, first, last, str(record.get("text", "")))
    return steps


def step_number(step: MemoryStep) -> int | None:
    return getattr(step, "step_number", None) if isinstance(step, ActionStep) else None


def apply_summary(steps: list[MemoryStep], first: int, last: int, text: str) -> list[MemoryStep]:
    """Replace action steps numbered first..last (and planning steps among them) by one SummaryStep.

    Task steps are kept: the goal must never be trimmed away.
    """
    out: list[MemoryStep] = []
    inserted = False
    inside = False
    for step in steps:
        number = step_number(step)
        if number is not None:
            inside = first <= number <= last
        elif isinstance(step, SummaryStep):
            inside = first <= step.first and step.last <= last
        if inside and not isinstance(step, TaskStep):
            if not inserted:
                out.append(SummaryStep(first=first, last=last, text=text))
                inserted = True
            continue
        out.append(step)
    return out
