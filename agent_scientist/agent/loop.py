"""The planner loop: a smolagents CodeAgent built from prompts/planner.yaml and the tool registry.

`run` starts or resumes a workspace: it rebuilds the agent's memory from steps.jsonl, records each
finished step to disk the moment it ends, enforces step and budget limits, and leaves the workspace
in a resumable state however the run ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent_scientist.agent.adapter import set_history
from agent_scientist.agent.history import rebuild_history
from agent_scientist.agent.interpreter import close_executors, isolation_warning, take_tool_calls
from agent_scientist.agent.models import UsageMeter, build_model, cost_usd, output_was_cut, record_calls
from agent_scientist.agent.progress import Progress
from agent_scientist.agent.registry import build_toolbox, planner_tools
from agent_scientist.config import Settings
from agent_scientist.contracts import Capability, Toolbox, ToolContext
from agent_scientist.prompting import load as load_prompts
from agent_scientist.records import Status, StepRecord
from agent_scientist.workspace import Workspace

RESUME_TASK = (
    "Resume the research on the question above from where you stopped. Your Python variables are gone: "
    "use recall() and your files instead of re-reading. Do not repeat steps already done."
)


@dataclass
class RunOutcome:
    status: Status  # completed, interrupted or failed
    reason: str  # final_answer, max_steps, budget, interrupted, or the error
    final_answer: str | None = None
    log: str | None = None  # a failed run's traceback is in this file (the workspace's run.log)
    at: float = field(default_factory=time.monotonic)  # when the run ended (an interrupt's bounds count from it)


CUT_NOTE = (
    "Note: your last reply was cut off at the output limit ({cap} tokens), so its code may be incomplete. "
    "Keep replies short: one brief thought and one small code block per step."
)


def _unparseable(error: Any) -> bool:
    """A reply with no code block that parses (as opposed to code that ran and failed)."""
    from agent_scientist.agent.adapter import is_parse_error

    return is_parse_error(error)


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds") if ts else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


class StepRecorder:
    """Step callback: writes each finished step to steps.jsonl and enforces the run's limits."""

    def __init__(self, ws: Workspace, ctx: ToolContext, settings: Settings, model_id: str, progress: Progress,
                 worker_meter: UsageMeter | None = None):
        self.ws = ws
        self.worker_meter = worker_meter
        self.ctx = ctx
        self.settings = settings
        self.model_id = model_id
        self.progress = progress
        self.first_step = ws.meta.get("steps", 0)
        self.next_step = self.first_step + 1
        self.stop_reason: str | None = None
        self.failure: str | None = None  # set when the run must end as failed (unparseable replies)
        self.parse_errors = 0  # unparseable replies in a row
        ctx.step = self.next_step

    @property
    def steps_this_run(self) -> int:
        return self.next_step - 1 - self.first_step

    def __call__(self, memory_step: Any, agent: Any = None) -> None:
        from agent_scientist.agent.adapter import ActionStep, PlanningStep

        if isinstance(memory_step, ActionStep) and memory_step.model_output is None and memory_step.error is None:
            return  # the model call itself raised: nothing happened, the run is ending with that error
        usage = getattr(memory_step, "token_usage", None)
        tokens_in = usage.input_tokens if usage else 0
        tokens_out = usage.output_tokens if usage else 0
        timing = memory_step.timing
        record: StepRecord = {
            "started_at": _iso(timing.start_time),
            "ended_at": _iso(timing.end_time),
            "start_ts": timing.start_time,
            "end_ts": timing.end_time,
            "duration_s": round((timing.end_time or time.time()) - timing.start_time, 3),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": round(cost_usd(self.model_id, tokens_in, tokens_out), 8),
        }
        cap = self.settings.max_output_tokens
        if output_was_cut(getattr(memory_step, "model_output_message", None), cap):
            record["cut"] = True
            if isinstance(memory_step, ActionStep):  # the next step's prompt carries the note
                note = CUT_NOTE.format(cap=cap)
                memory_step.observations = f"{note}\n{memory_step.observations}" if memory_step.observations else note
        if isinstance(memory_step, ActionStep):
            memory_step.step_number = self.next_step  # global numbering across runs
            record.update({
                "type": "action",
                "step": self.next_step,
                "model_output": _text(memory_step.model_output),
                "code": memory_step.code_action,
                "observation": memory_step.observations,
                "error": str(memory_step.error) if memory_step.error else None,
            })
            if memory_step.is_final_answer:
                record["final_answer"] = _text(memory_step.action_output)
            calls = take_tool_calls(agent) if agent is not None else []
            if calls:
                record["tool_calls"] = calls
            self.next_step += 1
            self.ctx.step = self.next_step
        elif isinstance(memory_step, PlanningStep):
            record.update({"type": "planning", "step": self.next_step, "plan": memory_step.plan})
        else:
            return
        if self.worker_meter is not None:
            record.update(self.worker_meter.take())
        self.ws.append_step(record)
        if hasattr(self.progress, "observe_prompt"):
            self.progress.observe_prompt(memory_step)  # to check the prompt tokens the server reports
        self.progress.step(record, self.ws.meta)
        if record.get("final_answer") is not None:
            return
        if record.get("type") == "action":
            self.parse_errors = self.parse_errors + 1 if _unparseable(memory_step.error) else 0
        if self.parse_errors >= self.settings.max_parse_errors:
            self.failure = (f"the model gave {self.parse_errors} replies in a row without runnable code "
                            f"(last: {_short_error(memory_step.error)[:200]})")
            self._stop(agent, "unparseable")
        elif self.steps_this_run >= self.settings.max_steps:
            self._stop(agent, "max_steps")
        elif self.settings.budget_usd and self.ws.meta.get("cost_usd", 0.0) >= self.settings.budget_usd:
            self._stop(agent, "budget")

    def has_room(self) -> bool:
        """Whether this run may take another step (its step limit and the budget)."""
        budget = self.settings.budget_usd
        return self.steps_this_run < self.settings.max_steps and not (
            budget and self.ws.meta.get("cost_usd", 0.0) >= budget)

    def _stop(self, agent: Any, reason: str) -> None:
        self.stop_reason = reason
        if agent is not None:
            from agent_scientist.agent.adapter import stop_before_next_step

            stop_before_next_step(agent)


def build_agent(ctx: ToolContext, box: Toolbox, model: Any, recorder: StepRecorder) -> Any:
    from agent_scientist.agent.adapter import planner_agent

    settings = ctx.settings
    instructions = "\n\n".join(text for text in box.instructions if text) or None
    return planner_agent(
        tools=planner_tools(box),
        model=model,
        prompt_templates=load_prompts("planner"),
        instructions=instructions,
        authorized_imports=list(settings.authorized_imports),
        managed_agents=box.managed_agents,
        step_callbacks=[recorder, *box.step_callbacks],
        planning_interval=settings.planning_interval,
        max_steps=settings.max_steps,  # our recorder stops first, without a forced answer
        max_print_chars=settings.read_chars * 2,
        settings=settings,
    )


def run(
    ws: Workspace,
    settings: Settings,
    model: Any = None,
    worker_model: Any = None,
    instruction: str | None = None,
    quiet: bool = True,
    progress: Progress | None = None,
    *,
    capabilities: list[Capability],
) -> RunOutcome:
    """Run or resume the planner in `ws` until a final answer, a limit, an interrupt or an error.

    `capabilities` are what the entry point passes (`agent_scientist.capabilities.default_capabilities()`);
    an empty list gives a planner with no tools but final_answer.
    """
    with ws.lock():
        records = ws.steps()
        resuming = any(r.get("type") == "run_start" for r in records)
        if resuming:
            ws.reconcile()
        model = model or build_model(settings, "planner")
        if worker_model is None and settings.model:
            worker_model = build_model(settings, "worker")
        progress = progress or Progress(quiet=quiet)
        meter = UsageMeter(worker_model) if worker_model is not None and worker_model is not model else None
        ctx = ToolContext(ws=ws, settings=settings, worker_model=worker_model)
        box = build_toolbox(ctx, capabilities)
        ctx.warnings.extend(w for w in [isolation_warning(settings)] if w)  # planner code not sandboxed here
        for warning in ctx.warnings:
            progress.warn(warning)
        model_id = getattr(model, "model_id", "") or settings.model
        share_system_mode(ws, settings, progress, model, worker_model)
        record_calls(ws.inflight_path, model, worker_model)  # the calls in flight, for `serve`
        recorder = StepRecorder(ws, ctx, settings, model_id, progress, meter)
        agent = build_agent(ctx, box, model, recorder)

        review = box.answer_review
        review_pending = bool(resuming and not instruction and review is not None and review.pending())
        if resuming:
            task = f"Follow-up request: {instruction}" if instruction else RESUME_TASK
            task = review.resume_task if review_pending else task
        else:
            task = ws.question + (f"\n\nAdditional instruction: {instruction}" if instruction else "")
        ws.update(
            status="running",
            stop_reason=None,
            models={"planner": model_id, "worker": getattr(worker_model, "model_id", None) or model_id},
            api_base=settings.api_base or None,
            memory_url=settings.memory_url or None,
        )
        ws.append_step({"type": "run_start", "task": task, "instruction": instruction, "resumed": resuming})
        if resuming:
            set_history(agent, rebuild_history(records))
        progress.start(ws, resuming)

        outcome = _review(review, agent, task, review_pending, resuming, recorder, progress, meter)
        ws.update(status=outcome.status, stop_reason=outcome.reason)
        if outcome.status == "failed" and hasattr(progress, "call_failed"):
            progress.call_failed(outcome.reason)  # a stalled call: which setting to change
        bound = min(settings.end_of_run_timeout, INTERRUPT_GRACE_S) if outcome.reason == "interrupted" else None
        if bound is not None:  # the lessons, and what waits at exit (passages being indexed), end by then
            ctx.exit_by = outcome.at + bound
        if box.run_end_hooks and hasattr(progress, "phase"):
            progress.phase("end of run: lessons (worker model call)")
        skipped = run_end_hooks(box.run_end_hooks, agent, outcome.status, progress, bound, ctx)
        close_executors(agent)  # the sandboxed interpreters of the planner and its managed agents
        end: StepRecord = {"type": "run_end", "status": outcome.status, "reason": outcome.reason}
        if outcome.log:
            end["log"] = Path(outcome.log).name
        if skipped:
            end["end_of_run_skipped"] = skipped
        ws.append_step({**end, **(meter.take() if meter else {})})
        progress.end(ws, outcome)
        return outcome


# After Ctrl-C the process exits within 3 s: end-of-run work gets at most this long from the interrupt, which
# leaves the rest for closing the interpreter, writing the report and exiting on a loaded machine.
INTERRUPT_GRACE_S = 2.0


def share_system_mode(ws: Workspace, settings: Settings, progress: Any, *models: Any) -> None:
    """One system-prompt mode for the planner and the worker: `system_prompt = auto` starts from what the workspace
    recorded; a switch (the server dropped the system message) is recorded there and said once."""
    from agent_scientist.agent.models import SystemMode

    mode = SystemMode(settings.system_prompt)
    if settings.system_prompt == "auto" and ws.meta.get("system_prompt") == "user":
        mode.fold = True

    def switched() -> None:
        ws.update(system_prompt="user")
        progress.warn("the server's prompt tokens show its chat template drops the system message: the "
                      "instructions now go inside the first user message (recorded in the workspace; "
                      "set system_prompt = system to undo)")

    mode.on_switch = switched
    for model in models:
        if model is not None and hasattr(model, "system_mode"):
            model.system_mode = mode


def run_end_hooks(hooks: list[Any], agent: Any, status: str, progress: Progress,
                  bound: float | None, ctx: ToolContext | None = None) -> str | None:
    """Run the end-of-run hooks; with a `bound` (after an interrupt) they get that many seconds in total,
    counted from the interrupt when `ctx.exit_by` says when that was.

    Returns why the work was skipped, or None. Work past the bound is abandoned in a daemon thread,
    so the process can exit at once.
    """
    import threading

    def work() -> None:
        for hook in hooks:
            try:
                hook(agent, status)
            except Exception as exc:  # a hook must never lose the run's state
                progress.warn(f"end-of-run hook failed: {exc}")

    if not hooks:
        return None
    try:
        if bound is None:
            work()
            return None
        thread = threading.Thread(target=work, name="end-of-run", daemon=True)
        thread.start()
        thread.join(ctx.exit_wait(bound) if ctx is not None else bound)
        if not thread.is_alive():
            return None
        why = f"not done within end_of_run_timeout ({bound:g} s)"
    except KeyboardInterrupt:
        why = "interrupted"
    progress.warn(f"end-of-run work (lessons) skipped: {why}")
    return why


def _drive(agent: Any, task: str, resuming: bool, recorder: StepRecorder) -> RunOutcome:
    from agent_scientist.agent.adapter import AgentError

    try:
        answer = agent.run(task, reset=not resuming)
    except KeyboardInterrupt:
        return RunOutcome("interrupted", "interrupted")
    except AgentError as exc:
        if recorder.failure:
            return RunOutcome("failed", recorder.failure)
        if recorder.stop_reason:
            return RunOutcome("interrupted", recorder.stop_reason)
        return _failed(recorder.ws, exc)
    except Exception as exc:
        return _failed(recorder.ws, exc)
    if recorder.failure:
        return RunOutcome("failed", recorder.failure)
    if recorder.stop_reason:
        return RunOutcome("interrupted", recorder.stop_reason)
    return RunOutcome("completed", "final_answer", _text(answer))


def _review(review: Any, agent: Any, task: str, review_pending: bool, resuming: bool, recorder: StepRecorder,
            progress: Progress, meter: UsageMeter | None) -> RunOutcome:
    """Drive the planner with the answer review (agent_scientist.review) when a capability gives one: each
    final answer is checked; while the review asks for a revision and steps and budget allow, the planner
    continues with the review as its task. `review_pending` first finishes a review that a kill cut short."""
    take = meter.take if meter else None
    try:
        if review_pending:
            follow_up = review.resume(take, progress.activity)
            if follow_up is None:
                return RunOutcome("completed", "final_answer", recorder.ws.final_answer())
            task = follow_up
        outcome = _drive(agent, task, resuming, recorder)
        while outcome.status == "completed" and review is not None:
            follow_up = review.after_answer(take, progress.activity)
            if not follow_up or not recorder.has_room():
                break
            outcome = _drive(agent, follow_up, True, recorder)
    except KeyboardInterrupt:
        return RunOutcome("interrupted", "interrupted")
    return outcome


def _failed(ws: Workspace, exc: BaseException) -> RunOutcome:
    """A failed run: its one-line reason, with the whole traceback kept in the workspace's run.log."""
    log = ws.log_error(f"run failed at step {ws.meta.get('steps', 0) + 1}", exc)
    return RunOutcome("failed", _short_error(exc), log=str(log))


def _short_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:500] + " ..."
