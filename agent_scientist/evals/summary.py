"""Aggregates of an eval (summary.json, summary.md) and the side-by-side comparison of two evals.

The multiple-choice measures are PaperQA2's: accuracy = correct / questions, precision =
correct / answered, coverage = answered / questions, where "answered" means an option other than
"Insufficient information" was chosen. Denominators are the scored questions; a partial summary
(Ctrl-C, total budget) says how many of the selected questions that is.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, cast

from agent_scientist.fsio import atomic_write_json, atomic_write_text, read_json, read_jsonl
from agent_scientist.records import EvalResult, EvalRun, EvalSummary, Spread

STATUSES = ("completed", "max_steps", "budget", "failed")
CostMeasure = Literal["steps", "tokens_in", "tokens_out", "cost_usd", "wall_s"]
COST_MEASURES: tuple[CostMeasure, ...] = ("steps", "tokens_in", "tokens_out", "cost_usd", "wall_s")
RESULTS_FILE = "results.jsonl"


def project_version() -> str:
    try:
        return version("agent-scientist")
    except PackageNotFoundError:
        return "unknown"


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def p90(values: list[float]) -> float | None:
    """Nearest-rank 90th percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _spread(values: list[float]) -> Spread:
    return {"total": round(sum(values), 6), "median": statistics.median(values) if values else None,
            "p90": p90(values)}


def summarize(results: Sequence[EvalResult], selected: int, meta: EvalRun) -> EvalSummary:
    """The eval's figures from its per-question results."""
    mc = [r for r in results if r.get("kind") == "mc"]
    correct = sum(1 for r in mc if r.get("correct"))
    answered = sum(1 for r in mc if r.get("answered"))
    with_sources = [r for r in results if r.get("source_read") is not None]
    cites = [r for r in results if r.get("citations")]
    total_cites = sum(int(r.get("citations") or 0) for r in results)
    verified = sum(int(r.get("citations_verified") or 0) for r in results)
    claims = [r for r in results if r.get("claims")]
    judged = [r for r in results if r.get("judge_correct") is not None]
    figures: EvalSummary = {
        "questions_selected": selected,
        "questions_scored": len(results),
        "partial": len(results) < selected,
        "status": {s: sum(1 for r in results if r.get("status") == s) for s in STATUSES},
        "multiple_choice": {
            "questions": len(mc), "correct": correct, "answered": answered,
            "accuracy": _rate(correct, len(mc)), "precision": _rate(correct, answered),
            "coverage": _rate(answered, len(mc)),
            "mapped_by_model": sum(1 for r in mc if r.get("mapped_by_model")),
            "unreadable": sum(1 for r in mc if r.get("chosen") is None),
        },
        "sources": {
            "questions_with_sources": len(with_sources),
            "available": sum(1 for r in with_sources if r.get("source_available")),
            "read": sum(1 for r in with_sources if r.get("source_read")),
            "cited": sum(1 for r in with_sources if r.get("source_cited")),
            "available_rate": _rate(sum(1 for r in with_sources if r.get("source_available")), len(with_sources)),
            "read_rate": _rate(sum(1 for r in with_sources if r.get("source_read")), len(with_sources)),
            "recall": _rate(sum(1 for r in with_sources if r.get("source_cited")), len(with_sources)),
        },
        "citations": {
            "answers_with_citations": len(cites), "citations": total_cites, "verified": verified,
            "validity": _rate(verified, total_cites),
        },
        "claims": {
            "questions": len(claims),
            "support": _rate(sum(int(r.get("claims_supported") or 0) for r in claims),
                             sum(int(r.get("claims") or 0) for r in claims)),
        },
        "judge": {"judged": len(judged), "correct": sum(1 for r in judged if r["judge_correct"]),
                  "accuracy": _rate(sum(1 for r in judged if r["judge_correct"]), len(judged))},
        "failures": [{"id": r.get("id"), "error": r.get("error")} for r in results if r.get("status") == "failed"],
    }
    for key in COST_MEASURES:
        figures[key] = _spread([float(r.get(key) or 0) for r in results])
    return {"version": project_version(), **meta, **figures}


def read_result(path: Path) -> EvalResult:
    """A question's eval-result.json (evals.worker); ValueError when it is not one."""
    data = read_json(path)
    if not isinstance(data, dict) or "status" not in data:
        raise ValueError(f"{path} is not an eval result")
    return cast(EvalResult, data)  # JSON from disk, written by evals.worker or the runner: checked above


def read_results(folder: Path) -> list[EvalResult]:
    """An eval's results.jsonl (a torn last line skipped), in question-file order."""
    return cast(list[EvalResult], read_jsonl(Path(folder) / RESULTS_FILE))  # JSON objects from disk (write_results)


def write_results(folder: Path, results: Sequence[EvalResult]) -> None:
    """results.jsonl, one line per scored question in question-file order, replaced atomically."""
    import json

    text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in results)
    atomic_write_text(Path(folder) / RESULTS_FILE, text)


def write_summary(folder: Path, data: EvalSummary) -> None:
    atomic_write_json(Path(folder) / "summary.json", data)
    atomic_write_text(Path(folder) / "summary.md", to_markdown(data))


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, float) and not float(value).is_integer() else f"{value:,.0f}"


def rows(data: EvalSummary) -> list[tuple[str, str, Any]]:
    """(label, shown value, raw value) for every headline figure, in a fixed order."""
    mc, src, cit = data["multiple_choice"], data["sources"], data["citations"]
    out: list[tuple[str, str, Any]] = [
        ("questions scored", f"{data['questions_scored']} of {data['questions_selected']}", data["questions_scored"]),
        ("accuracy", _pct(mc["accuracy"]), mc["accuracy"]),
        ("precision", _pct(mc["precision"]), mc["precision"]),
        ("coverage", _pct(mc["coverage"]), mc["coverage"]),
        ("answers mapped by the worker model", str(mc["mapped_by_model"]), mc["mapped_by_model"]),
        ("gold source available", _pct(src.get("available_rate")), src.get("available_rate")),
        ("gold source read", _pct(src["read_rate"]), src["read_rate"]),
        ("source recall (read and cited)", _pct(src["recall"]), src["recall"]),
        ("citation validity", _pct(cit["validity"]), cit["validity"]),
        ("claim support", _pct(data["claims"]["support"]), data["claims"]["support"]),
        ("judge accuracy", _pct(data["judge"]["accuracy"]), data["judge"]["accuracy"]),
    ]
    for status in STATUSES:
        out.append((f"status {status}", str(data["status"][status]), data["status"][status]))
    spreads: tuple[tuple[CostMeasure, str, int], ...] = (
        ("steps", "steps", 1), ("tokens_in", "tokens in", 0), ("tokens_out", "tokens out", 0),
        ("cost_usd", "cost $", 4), ("wall_s", "wall s", 1))
    for key, label, digits in spreads:
        m = data[key]
        out.append((f"{label} median / p90 / total",
                    f"{_num(m['median'], digits)} / {_num(m['p90'], digits)} / {_num(m['total'], digits)}",
                    m["median"]))
    return out


def to_markdown(data: EvalSummary) -> str:
    models = data.get("models") or {}
    lines = [
        f"# Eval {data.get('name')}",
        "",
        f"- Questions: `{data.get('questions_file')}` (sha256 {str(data.get('questions_sha256'))[:12]}), seed "
        f"{data.get('seed')}",
        f"- Models: planner `{models.get('planner')}`, worker `{models.get('worker')}`"
        + (f", judge `{models['judge']}`" if models.get("judge") else ""),
        f"- agent-scientist {data.get('version')}; {data.get('started_at')} → {data.get('finished_at')}",
    ]
    if data.get("partial"):
        lines.append(f"- **Partial** ({data.get('stop_reason') or 'not all run'}): "
                     f"{data['questions_scored']} of {data['questions_selected']} questions scored; "
                     "run the same command again to finish.")
    lines += ["", "| measure | value |", "| --- | --- |"]
    lines += [f"| {label} | {shown} |" for label, shown, _ in rows(data)]
    if data.get("failures"):
        lines += ["", "## Failures", ""]
        lines += [f"- `{f['id']}`: {' '.join(str(f['error'] or '').split())[:300]}" for f in data["failures"]]
    return "\n".join(lines) + "\n"


def load(target: str, home: Path) -> EvalSummary:
    """A summary from an eval name (under <home>/evals/) or a path to summary.json or its folder."""
    path = Path(target)
    if path.is_dir():
        path = path / "summary.json"
    elif not path.exists():
        path = Path(home) / "evals" / target / "summary.json"
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise ValueError(f"No summary at {path}: run `agent-scientist eval` first, or give a summary.json path.") \
            from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is unreadable ({exc}).") from None
    if not isinstance(data, dict) or "multiple_choice" not in data:
        raise ValueError(f"{path} is not an eval summary.")
    return cast(EvalSummary, data)  # JSON from disk, written by write_summary: checked for its figures above


def compare(a: EvalSummary, b: EvalSummary) -> list[tuple[str, str, str, str]]:
    """(measure, A, B, difference) for the headline figures, then the settings that differ."""
    out = []
    for (label, shown_a, raw_a), (_, shown_b, raw_b) in zip(rows(a), rows(b), strict=True):
        diff = ""
        if isinstance(raw_a, int | float) and isinstance(raw_b, int | float) and raw_a != raw_b:
            delta = raw_b - raw_a
            is_rate = label in ("accuracy", "precision", "coverage", "gold source available", "gold source read",
                                "citation validity",
                                "source recall (read and cited)", "claim support", "judge accuracy")
            diff = f"{100 * delta:+.1f} pts" if is_rate else f"{delta:+,.4g}"
        out.append((label, shown_a, shown_b, diff))
    for key in ("models", "settings", "seed", "questions_sha256", "version"):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            for sub in sorted(set(va) | set(vb)):
                if va.get(sub) != vb.get(sub):
                    out.append((f"{key}.{sub}", str(va.get(sub)), str(vb.get(sub)), "differs"))
        elif va != vb:
            out.append((key, str(va), str(vb), "differs"))
    return out
