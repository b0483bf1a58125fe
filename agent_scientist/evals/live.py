"""What the user sees while an eval runs: a live rich table on a terminal, one line per question otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from agent_scientist.agent.progress import short
from agent_scientist.records import EvalResult

if TYPE_CHECKING:  # the runner calls the view; the view only reads it
    from agent_scientist.evals.runner import EvalRunner

RECENT = 8  # finished questions shown under the running ones


def outcome_text(result: EvalResult) -> str:
    """One word or two for a scored question: correct (B), wrong (C), insufficient, no answer, failed."""
    if result.get("status") == "failed":
        return "failed"
    if result.get("kind") != "mc":
        return result.get("status", "")
    chosen = result.get("chosen")
    if chosen is None:
        return "no answer"
    if result.get("correct"):
        return f"correct ({chosen})"
    return f"wrong ({chosen})" if result.get("answered") else f"insufficient ({chosen})"


class EvalView:
    """Called by the runner after every poll; prints only what changed in plain mode."""

    def __init__(self, console: Console, plain: bool):
        self.console = console
        self.plain = plain or not console.is_terminal
        self.printed: set[str] = set()
        self.live: Live | None = None
        self.finished_order: list[str] = []

    def __call__(self, runner: EvalRunner) -> None:
        for item in runner.items:
            if item.result is not None and item.q.id not in self.printed:
                self.printed.add(item.q.id)
                self.finished_order.append(item.q.id)
                if self.plain:
                    self._line(runner, item.q.id, item.result)
        if self.plain:
            return
        if self.live is None:
            self.live = Live(self.render(runner), console=self.console, refresh_per_second=4, transient=False)
            self.live.start()
        else:
            self.live.update(self.render(runner))

    def _line(self, runner: EvalRunner, qid: str, r: EvalResult) -> None:
        done = len(self.printed)
        self.console.print(
            f"[{done}/{len(runner.items)}] {qid}: {outcome_text(r)} · {r.get('steps', 0)} steps · "
            f"${float(r.get('cost_usd') or 0):.4f} · {float(r.get('wall_s') or 0):.1f} s", highlight=False,
            markup=False)

    def render(self, runner: EvalRunner) -> Any:
        items = runner.items
        done = {i.q.id: i.result for i in items if i.result is not None}
        running = runner.running
        mc = [r for r in done.values() if r.get("kind") == "mc"]
        correct = sum(1 for r in mc if r.get("correct"))
        head = Text(f"Eval {runner.cfg.name}: {len(done)}/{len(items)} done · {len(running)} running · "
                    f"correct {correct}/{len(mc)} · cost ${runner.cost_so_far():.4f}")
        table = Table(show_edge=False, pad_edge=False, expand=False)
        for col in ("question", "state", "steps", "cost", "outcome"):
            table.add_column(col)
        for item in running:
            table.add_row(short(item.q.id, 40), "running", str(item.live.get("steps", 0)),
                          f"${float(item.live.get('cost_usd') or 0):.4f}", "")
        for qid in self.finished_order[-RECENT:][::-1]:
            r = done[qid]
            table.add_row(short(qid, 40), r.get("status", ""), str(r.get("steps", 0)),
                          f"${float(r.get('cost_usd') or 0):.4f}", outcome_text(r))
        return Group(head, table)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
