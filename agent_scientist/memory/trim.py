"""History trimming: keep the planner's prompt under a token threshold by summarising its oldest steps.

A step callback reads the real prompt size of the step that just ended (its input tokens). Past
`context_threshold_tokens`, the oldest action steps (the task and the last few steps stay) are replaced
in the planner's memory by a summary the worker model writes. steps.jsonl keeps every step; the summary
is appended there as a `summary` record (so a resume rebuilds the same view) and stored in `history`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from agent_scientist.agent.history import SummaryStep, apply_summary
from agent_scientist.memory.worker import ask

log = logging.getLogger(__name__)

KEEP_LAST = 2  # action steps kept in full, besides the one that just ended
STEP_CHARS = 1500  # of each step shown to the summariser
TOTAL_CHARS = 24000  # of all steps shown to the summariser
SUMMARY_WORDS = 300
SUMMARY_CHARS = 4000
IDS_CHARS = 1200  # of identifiers the summary left out, appended verbatim

# Identifiers the planner may need again: paper ids, note ids, runs, files.
_IDENTIFIER = re.compile(
    r"(?:arXiv:)?\b\d{4}\.\d{4,5}(?:v\d+)?\b|\blocal:[0-9a-f]{6,}\b|\bn-[0-9a-f]{10}\b|\brun[: ]\d+\b"
    r"|\b[\w./-]+\.(?:py|json|jsonl|csv|tsv|txt|md|pdf|png|svg|yaml|yml|toml|ipynb|log|npz|npy|pt|pkl)\b"
)


def _cut(text: Any, limit: int) -> str:
    text = "" if text is None else str(text).strip()
    return text if len(text) <= limit else text[:limit] + " [...]"


def describe_step(step: Any, limit: int = STEP_CHARS) -> str:
    """One memory step as plain text for the summariser (bounded)."""
    from agent_scientist.agent.adapter import ActionStep, PlanningStep

    if isinstance(step, ActionStep):
        parts = [f"Step {step.step_number}:"]
        if step.code_action:
            parts.append("Code: " + _cut(step.code_action, limit // 3))
        elif step.model_output:
            parts.append("Output: " + _cut(step.model_output, limit // 3))
        if step.observations:
            parts.append("Observation: " + _cut(step.observations, limit // 2))
        if step.error:
            parts.append("Error: " + _cut(step.error, limit // 6))
        return "\n".join(parts)
    if isinstance(step, PlanningStep):
        return "Plan: " + _cut(step.plan, limit // 2)
    return ""


def identifiers(text: str) -> list[str]:
    """Paper ids, note ids, runs and file names in `text`, in order of first appearance."""
    seen: dict[str, None] = {}
    for m in _IDENTIFIER.finditer(text):
        seen.setdefault(m.group(0), None)
    return list(seen)


def keep_identifiers(summary: str, source: str) -> str:
    """The summary, plus (verbatim) every identifier of `source` it dropped or altered, within a bound."""
    missing = [i for i in identifiers(source) if i not in summary]
    if not missing:
        return summary
    extra, used = [], 0
    for ident in missing:
        if used + len(ident) + 2 > IDS_CHARS:
            extra.append("...")
            break
        extra.append(ident)
        used += len(ident) + 2
    line = "\nIdentifiers from these steps (verbatim): " + ", ".join(extra)
    return _cut(summary, SUMMARY_CHARS - len(line)) + line


def fallback_summary(previous: str, steps: list[Any]) -> str:
    """A mechanical summary when the worker model is missing or fails: one line per step."""
    lines = ["(automatic summary; the memory agent was unavailable)"]
    if previous:
        lines.append(_cut(previous, 1500))
    for step in steps:
        text = " ".join(describe_step(step, 600).split())
        if text:
            lines.append(_cut(text, 240))
    return _cut("\n".join(lines), SUMMARY_CHARS)


class HistoryTrimmer:
    """Step callback `fn(memory_step, agent=agent)` that trims the planner's memory when the prompt grows."""

    def __init__(self, ctx: Any, threshold: int, keep_last: int = KEEP_LAST, store: Any = None):
        self.ctx = ctx
        self.store = store or (lambda: None)  # returns the memory store for `history` summaries, or None
        self.threshold = threshold
        self.keep_last = keep_last
        self.trims = 0

    def __call__(self, memory_step: Any, agent: Any = None) -> None:
        from agent_scientist.agent.adapter import ActionStep

        if agent is None or not isinstance(memory_step, ActionStep) or memory_step.is_final_answer:
            return
        usage = memory_step.token_usage
        if self.threshold <= 0 or usage is None or usage.input_tokens <= self.threshold:
            return
        try:
            self.trim(agent)
        except Exception as exc:  # trimming must never end the run
            log.warning("memory: history trimming failed: %s", exc)

    def trim(self, agent: Any) -> tuple[int, int] | None:
        """Fold all but the last `keep_last` action steps into one summary; returns the range covered."""
        from agent_scientist.agent.adapter import ActionStep, TaskStep, history_steps, set_history

        steps = history_steps(agent)
        actions = [s for s in steps if isinstance(s, ActionStep) and s.step_number is not None]
        fold = actions[: len(actions) - self.keep_last] if self.keep_last else actions
        if not fold:
            return None
        last = fold[-1].step_number
        earlier = [s for s in steps if isinstance(s, SummaryStep) and s.last < last]
        first = min([s.first for s in earlier] + [fold[0].step_number])
        previous = "\n".join(s.text for s in earlier)
        end = next(i for i, s in enumerate(steps) if s is fold[-1])
        covered = [s for s in steps[: end + 1] if not isinstance(s, (SummaryStep, TaskStep))]
        text = self.summarize(previous, covered, first, last)
        set_history(agent, apply_summary(steps, first, last, text))
        self.ctx.ws.append_step({"type": "summary", "covers": [first, last], "text": text})
        store = self.store()
        if store is not None:
            try:
                store.add_summary(first, last, text)
            except Exception as exc:
                log.warning("memory: could not store the summary in `history`: %s", exc)
        self.trims += 1
        return first, last

    def summarize(self, previous: str, steps: list[Any], first: int, last: int) -> str:
        """The worker model's summary of the steps, or a mechanical one if it cannot give one."""
        body, used = [], 0
        for step in steps:
            text = describe_step(step)
            if used + len(text) > TOTAL_CHARS:
                body.append("[... older steps cut ...]")
                break
            body.append(text)
            used += len(text)
        source = "\n".join([previous, *body])
        model = self.ctx.worker_model
        if model is not None:
            try:
                prefix = f"EARLIER SUMMARY:\n{previous}\n\n" if previous else ""
                text = ask(model, "summarize", previous=prefix, first=first, last=last,
                           steps="\n\n".join(body), max_words=SUMMARY_WORDS)
                if text.strip():
                    return keep_identifiers(_cut(text, SUMMARY_CHARS), source)
                log.warning("memory: the worker model returned an empty summary; using a mechanical one")
            except Exception as exc:
                log.warning("memory: summary by the worker model failed (%s); using a mechanical one", exc)
        return keep_identifiers(fallback_summary(previous, steps), source)
