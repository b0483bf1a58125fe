"""What the user sees while a run works: a rich view on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text


def observation_text(text: str | None) -> str:
    """The part of a smolagents observation worth showing: the printed logs and a real last value."""
    if not text:
        return ""
    logs, _, last = str(text).partition("Last output from code snippet:")
    logs = logs.replace("Execution logs:", "", 1).strip()
    last = last.strip()
    return "\n".join(part for part in (logs, "" if last == "None" else last) if part)


def short(text: str | None, limit: int = 160) -> str:
    """One line of at most `limit` characters."""
    if not text:
        return ""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Progress:
    """Prints one block per finished step; `quiet` or a non-terminal stdout gives plain lines."""

    def __init__(self, quiet: bool = False, console: Console | None = None):
        self.console = console or Console(highlight=False)
        self.plain = quiet or not self.console.is_terminal
        self.started = time.monotonic()
        self.status: Any = None  # the spinner shown while the model works (terminal only)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.1f}s"

    def start(self, ws: Any, resuming: bool) -> None:
        verb = "Resuming" if resuming else "Researching"
        self._line(f"{verb} in workspace {ws.name} ({ws.root})")
        if not self.plain:
            self.status = self.console.status(f"Step {ws.meta.get('steps', 0) + 1}: thinking…")
            self.status.start()

    def step(self, record: dict[str, Any], meta: dict[str, Any]) -> None:
        tokens = f"{meta.get('tokens_in', 0)}/{meta.get('tokens_out', 0)} tok"
        cost = f"${meta.get('cost_usd', 0.0):.4f}"
        if record.get("type") == "planning":
            self._line(f"plan  | {tokens} | {cost} | {self._elapsed()} | {short(record.get('plan'), 100)}")
            return
        status = "error" if record.get("error") else ("final" if record.get("final_answer") is not None else "ok")
        observation = record.get("error") or observation_text(record.get("observation")) or record.get("final_answer") or ""
        if self.plain:
            self._line(
                f"step {record['step']} | {status} | {record.get('duration_s', 0):.1f}s | {tokens} | {cost} | "
                f"{self._elapsed()} | {short(observation, 120)}"
            )
            return
        title = f"Step {record['step']}  ·  {status}  ·  {tokens}  ·  {cost}  ·  {self._elapsed()}"
        body: list[Any] = []
        if record.get("code"):
            code = record["code"]
            lines = code.splitlines()
            if len(lines) > 15:
                code = "\n".join(lines[:15]) + f"\n# … {len(lines) - 15} more lines"
            body.append(Syntax(code, "python", theme="ansi_dark", word_wrap=True))
        body.append(Text(short(observation, 400), style="red" if record.get("error") else "dim"))
        from rich.console import Group

        self.console.print(Panel(Group(*body), title=title, title_align="left", border_style="cyan"))
        if self.status is not None:
            self.status.update(f"Step {record['step'] + 1}: thinking…  ({self._elapsed()} elapsed)")

    def activity(self, text: str) -> None:
        """Work between steps (e.g. "checking claims 3/12"): the spinner's text, or a plain line."""
        if self.status is not None:
            self.status.update(f"{text}  ({self._elapsed()} elapsed)")
        else:
            self._line(text)

    def warn(self, message: str) -> None:
        self._line(f"warning: {message}", err=True)

    def end(self, ws: Any, outcome: Any) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None
        meta = ws.meta
        self._line(
            f"{outcome.status} ({outcome.reason}) after {meta.get('steps', 0)} steps, "
            f"{meta.get('tokens_in', 0)}/{meta.get('tokens_out', 0)} tokens, ${meta.get('cost_usd', 0.0):.4f}"
        )

    def _line(self, text: str, err: bool = False) -> None:
        if self.plain:
            print(text, file=sys.stderr if err else sys.stdout, flush=True)
        else:
            self.console.print(text, style="yellow" if err else None)
