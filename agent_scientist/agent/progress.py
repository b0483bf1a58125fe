"""What the user sees while a run works: a rich view on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console

from agent_scientist.records import NO_CODE_BLOCK, failure_kind, observation_text, short, stop_label

FORMAT_HINT_AFTER = 3
FORMAT_HINT = ("{n} steps in a row without a code block: the model is not writing its code between <code> and "
               "</code> as the prompt asks. Try a stronger model, or check the server's chat template.")


SDK_LOGGERS = ("openai._base_client", "anthropic._base_client")


def _planner_call(role: str = "planner") -> Any:
    """The model call of `role` in flight, from the bounded-call hook in agent/models.py; None if none."""
    models = sys.modules.get("agent_scientist.agent.models")
    call = models.current_call(role) if models is not None else None
    return call if call is not None and call.in_flight else None


def _last_call() -> Any:
    """The planner's latest call, in flight or not (for the hint after a cut reply)."""
    models = sys.modules.get("agent_scientist.agent.models")
    return models.current_call("planner") if models is not None else None


def _hint() -> str:
    models = sys.modules.get("agent_scientist.agent.models")
    return models.bound_hint(_last_call()) if models is not None else ""


def _stream_figures(call: Any) -> str:
    """`312 tok so far · 19.5 tok/s` for a streamed call in flight; empty before its first token."""
    if call is None or not call.tokens:
        return ""
    rate = call.tokens_per_s
    return f"{call.tokens} tok so far" + (f" · {rate:.1f} tok/s" if rate else "")


class _CallWatch:
    """Counts the tries of the model call in flight (litellm calls us before every attempt)."""

    def __init__(self) -> None:
        self.call_id: str | None = None
        self.started = time.monotonic()
        self.tries = 0
        self.cap: int | None = None
        self.logger: Any = None
        self.handler: Any = None

    def install(self) -> None:
        self._install_sdk_watch()
        litellm = sys.modules.get("litellm")
        if litellm is None:
            return
        try:
            from litellm.integrations.custom_logger import CustomLogger
        except Exception:  # pragma: no cover - another litellm layout: no try numbers, nothing else lost
            return
        watch = self

        class _Logger(CustomLogger):
            def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
                watch.attempt(kwargs or {})

        self.logger = _Logger()
        litellm.input_callback.append(self.logger)

    def _install_sdk_watch(self) -> None:
        """The provider SDKs (openai, anthropic) retry inside one litellm attempt and log each retry."""
        import logging

        watch = self

        class _Retries(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if str(record.msg).startswith("Retrying request to"):
                    watch.tries = max(watch.tries, 1) + 1

        self.handler = _Retries(level=logging.INFO)
        for name in SDK_LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self.handler)
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)

    def uninstall(self) -> None:
        import logging

        for name in SDK_LOGGERS:
            logging.getLogger(name).removeHandler(self.handler)
        litellm = sys.modules.get("litellm")
        if litellm is not None and self.logger in getattr(litellm, "input_callback", []):
            litellm.input_callback.remove(self.logger)

    def attempt(self, details: dict[str, Any]) -> None:
        call_id = details.get("litellm_call_id") or (details.get("litellm_params") or {}).get("litellm_call_id")
        if call_id and call_id == self.call_id:
            self.tries += 1
        else:
            self.call_id, self.tries, self.started = call_id, 1, time.monotonic()
        params = details.get("optional_params") or {}
        cap = params.get("max_tokens") or params.get("max_completion_tokens")
        self.cap = int(cap) if cap else self.cap

    def reset(self) -> None:
        self.call_id, self.tries, self.started = None, 0, time.monotonic()


class Progress:
    """Prints one block per finished step; `quiet` or a non-terminal stdout gives plain lines."""

    def __init__(self, quiet: bool = False, console: Console | None = None):
        self.console = console or Console(highlight=False)
        self.plain = quiet or not self.console.is_terminal
        self.started = time.monotonic()
        self.status: Any = None  # the spinner shown while the model works (terminal only)
        self.watch = _CallWatch()
        self.next_step = 1
        self.base = {"steps": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0}  # workspace totals when this run began
        self.format_errors = 0
        self.hinted = False
        self.prompt_chars = 0
        self.prompt_warned = False
        self.step_started = time.monotonic()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.1f}s"

    def start(self, ws: Any, resuming: bool) -> None:
        verb = "Resuming" if resuming else "Researching"
        self._line(f"{verb} in workspace {ws.name} ({ws.root})")
        meta = ws.meta
        self.base = {key: meta.get(key, 0) or 0 for key in self.base}
        self.next_step = meta.get("steps", 0) + 1
        self.step_started = time.monotonic()
        self.watch.install()
        if not self.plain:
            self.status = self.console.status(self.thinking_line())
            self.status.start()
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def phase(self, text: str) -> None:
        """Name the work after the last step (e.g. the end-of-run worker call), so it is not shown as a step."""
        self.phase_text = text
        if self.status is not None:
            self.status.update(self.thinking_line())
        else:
            self._line(text)

    def thinking_line(self) -> str:
        """`Step 3: thinking… 12s in this model call · 312 tok so far · 19.5 tok/s · try 2 · output cap 4096 tok`."""
        if getattr(self, "phase_text", ""):
            call = _planner_call("worker")
            parts = [f"{self.phase_text}…"]
            if call is not None:
                parts += [f"{call.elapsed_s:.0f}s", _stream_figures(call)]
            return " · ".join(p for p in [*parts, f"run {self._elapsed()}"] if p)
        watch = self.watch
        seconds = time.monotonic() - (watch.started if watch.tries else self.step_started)
        tries, cap = watch.tries, watch.cap
        call = _planner_call()  # the bounded call in flight (agent/models.py), when there is one
        if call is not None:
            seconds, tries, cap = call.elapsed_s, max(tries, call.attempt), call.max_output_tokens or cap
        parts = [f"Step {self.next_step}: thinking… {seconds:.0f}s in this model call"]
        if _stream_figures(call):
            parts.append(_stream_figures(call))
        if tries > 1:
            parts.append(f"try {tries}" + (" (the last try ran out of time)" if call and call.timed_out else ""))
        if cap:
            parts.append(f"output cap {cap} tok")
        parts.append(f"run {self._elapsed()}")
        return " · ".join(parts)

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            status = self.status
            if status is not None:
                status.update(self.thinking_line())

    def observe_prompt(self, memory_step: Any) -> None:
        """Remember the size of the prompt the model was sent, to check the tokens the server reports."""
        messages = getattr(memory_step, "model_input_messages", None) or []
        total = 0
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else getattr(message, "content", "")
            if isinstance(content, list):
                total += sum(len(str(part.get("text", ""))) for part in content if isinstance(part, dict))
            else:
                total += len(str(content or ""))
        self.prompt_chars = total

    def _figures(self, record: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
        run_in = meta.get("tokens_in", 0) - self.base["tokens_in"]
        run_out = meta.get("tokens_out", 0) - self.base["tokens_out"]
        cost = meta.get("cost_usd", 0.0) - self.base["cost_usd"]
        return (f"{record.get('duration_s', 0):.1f}s · step tok in {record.get('tokens_in', 0)} / out "
                f"{record.get('tokens_out', 0)} · run tok in {run_in} / out {run_out} · run ${cost:.4f}")

    def step(self, record: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        if record.get("type") == "planning":
            self._line(f"plan  | {self._figures(record, meta)} | {short(record.get('plan'), 100)}")
            return
        self.next_step = record.get("step", self.next_step) + 1
        self.step_started = time.monotonic()
        cap = self.watch.cap
        self.watch.reset()
        status = "error" if record.get("error") else ("final" if record.get("final_answer") is not None else "ok")
        observation = record.get("error") or observation_text(record.get("observation")) or record.get("final_answer") or ""
        notes = self._notes(record, cap)
        wrote = ""
        if record.get("error") and failure_kind(record["error"]) == NO_CODE_BLOCK:
            # the parse error quotes the reply: say what went wrong, and show the model's text once
            observation = f"{NO_CODE_BLOCK} (no <code> … </code>)"
            wrote = f"model wrote: {short(record.get('model_output') or '(nothing)', 200)}"
        if self.plain:
            self._line(f"step {record['step']} | {status} | {self._figures(record, meta)} | {short(observation, 120)}")
            if wrote:
                self._line(f"  {wrote}")
        else:
            from rich.panel import Panel
            from rich.syntax import Syntax  # pygments: only for the live view, not for show or export
            from rich.text import Text

            title = f"Step {record['step']}  ·  {status}  ·  {self._figures(record, meta)}"
            body: list[Any] = []
            if record.get("code"):
                code = record["code"]
                lines = code.splitlines()
                if len(lines) > 15:
                    code = "\n".join(lines[:15]) + f"\n# … {len(lines) - 15} more lines"
                body.append(Syntax(code, "python", theme="ansi_dark", word_wrap=True))
            body.append(Text(short(observation, 400), style="red" if record.get("error") else "dim"))
            if wrote:
                body.append(Text(wrote, style="italic"))
            from rich.console import Group

            self.console.print(Panel(Group(*body), title=title, title_align="left", border_style="cyan"))
            if self.status is not None:
                self.status.update(self.thinking_line())
        for note in notes:
            self.warn(note)

    def _notes(self, record: Mapping[str, Any], cap: int | None) -> list[str]:
        """Warnings a step earns: output cut at the cap, repeated format errors, a prompt the server shrank."""
        notes = []
        out = int(record.get("tokens_out") or 0)
        if record.get("cut") or (cap and out >= cap):
            hint = _hint()
            notes.append(f"step {record.get('step')}: the model's output hit the cap of {cap or out} tokens and "
                         "was cut (max_output_tokens)" + (f": {hint}" if hint else ""))
        if record.get("error") and failure_kind(record["error"]) == NO_CODE_BLOCK:
            self.format_errors += 1
        else:
            self.format_errors = 0
        if self.format_errors >= FORMAT_HINT_AFTER and not self.hinted:
            self.hinted = True
            notes.append(FORMAT_HINT.format(n=self.format_errors))
        reported = int(record.get("tokens_in") or 0)
        expected = self.prompt_chars // 4  # about four characters a token
        if reported and expected >= 500 and reported * 4 < expected and not self.prompt_warned:
            self.prompt_warned = True
            notes.append(f"the server reported {reported} prompt tokens for a prompt of about {expected} "
                         f"({self.prompt_chars} characters): it may be dropping messages (e.g. a chat template "
                         "without a system role); the model may not see its instructions")
        return notes

    def call_failed(self, error: str) -> None:
        """After a model call that ended at a bound (a stall): which setting to change, with the tokens/s."""
        hint = _hint()
        if hint:
            self.warn(f"{short(error, 160)}: {hint}")

    def activity(self, text: str) -> None:
        """Work between steps (e.g. "checking claims 3/12"): the spinner's text, or a plain line."""
        if self.status is not None:
            self.status.update(f"{text}  ({self._elapsed()} elapsed)")
        else:
            self._line(text)

    def warn(self, message: str) -> None:
        self._line(f"warning: {message}", err=True)

    def end(self, ws: Any, outcome: Any) -> None:
        self._stop.set()
        if self.status is not None:
            self.status.stop()
            self.status = None
        self.watch.uninstall()
        meta = ws.meta
        self._line(
            f"{stop_label(outcome.status, outcome.reason)} · {meta.get('steps', 0) - self.base['steps']} planner steps this run "
            f"({meta.get('steps', 0)} in the workspace) · run tok in {meta.get('tokens_in', 0) - self.base['tokens_in']} / out "
            f"{meta.get('tokens_out', 0) - self.base['tokens_out']} · run ${meta.get('cost_usd', 0.0) - self.base['cost_usd']:.4f}"
            f" · {self._elapsed()}"
        )

    def _line(self, text: str, err: bool = False) -> None:
        if self.plain:
            print(text, file=sys.stderr if err else sys.stdout, flush=True)
        else:
            self.console.print(text, style="yellow" if err else None)
