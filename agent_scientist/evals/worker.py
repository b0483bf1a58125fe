"""One eval question in its own process: run (or resume) its workspace, write the report, score it.

`entry(<workspace dir>, <eval pid>)` (forked by the runner; also `python -m agent_scientist.evals.worker
DIR PID`) reads `eval-spec.json` there (the question,
its options, the settings) and writes `eval-result.json` atomically when the run ended with an answer,
a limit or a failure. An interrupted run (SIGINT) writes no result, so the next `eval` resumes it.
Exit codes: 0 scored, 130 interrupted, 1 crashed before scoring.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, cast

from agent_scientist.evals.formats import Question
from agent_scientist.fsio import atomic_write_json, read_json
from agent_scientist.records import EvalResult, EvalSpec
from agent_scientist.workspace import Workspace, now_iso

SPEC_FILE = "eval-spec.json"
RESULT_FILE = "eval-result.json"
LOG_FILE = "eval.log"


def _status(outcome: Any) -> str | None:
    """The eval status of a run outcome; None when the run was interrupted and should resume."""
    if outcome.status == "completed":
        return "completed"
    if outcome.status == "failed":
        return "failed"
    if outcome.reason in ("max_steps", "budget"):
        return outcome.reason
    return None


def read_spec(root: Path) -> EvalSpec:
    """eval-spec.json, as the runner wrote it for this question."""
    data = read_json(root / SPEC_FILE)
    if not isinstance(data, dict) or not isinstance(data.get("question"), dict) or "workspace" not in data:
        raise ValueError(f"{root / SPEC_FILE} is not an eval spec; run the eval again to rewrite it.")
    return cast(EvalSpec, data)  # JSON from disk, written by evals.runner: checked for its parts above


def run_question(root: Path) -> int:
    from agent_scientist.agent import loop
    from agent_scientist.agent.progress import Progress
    from agent_scientist.capabilities import default_capabilities
    from agent_scientist.config import load_settings

    spec = read_spec(root)
    q = Question.from_dict(spec["question"])
    opts: list[str] = spec["options"]
    settings = load_settings(spec["settings"])
    ws = Workspace.open(settings.home, spec["workspace"])
    started = time.monotonic()
    previous_wall = float((ws.meta.get("eval") or {}).get("wall_s") or 0.0)
    meta = ws.meta
    try:
        if meta.get("status") == "completed" or meta.get("stop_reason") in ("max_steps", "budget"):
            # the run ended but scoring was cut short: score it, do not run the planner again
            outcome = loop.RunOutcome(meta["status"], meta.get("stop_reason") or "final_answer", ws.final_answer())
        else:
            corpus = spec.get("papers")
            if corpus and ws.status == "created":
                _ingest(ws, settings, Path(corpus))
            outcome = loop.run(ws, settings, progress=Progress(quiet=True), capabilities=default_capabilities())
    except KeyboardInterrupt:
        outcome = None
    wall = round(previous_wall + time.monotonic() - started, 3)
    ws.update(eval={**(ws.meta.get("eval") or {}), "wall_s": wall})
    if outcome is None or _status(outcome) is None:
        if ws.meta.get("status") == "running":
            ws.update(status="interrupted", stop_reason="interrupted")
        return 130
    result = score(ws, settings, q, opts, _status(outcome) or "failed",
                   outcome.reason if outcome.status == "failed" else None, spec.get("judge_model") or "")
    result["wall_s"] = wall
    atomic_write_json(root / RESULT_FILE, result)
    return 0


def _ingest(ws: Workspace, settings: Any, folder: Path) -> None:
    """The closed corpus: the same PDFs in every question's workspace, with their passages in memory."""
    from agent_scientist.papers.tool import ingest_pdfs

    memory = None
    try:
        from agent_scientist.memory import open_memory

        memory = open_memory(ws, settings)
    except Exception as exc:  # memory is optional: papers are indexed when read
        print(f"memory unavailable for the corpus: {exc}", file=sys.stderr)
    for item in ingest_pdfs(ws, settings, [folder], memory=memory):
        if item.get("error"):
            print(item["error"], file=sys.stderr)


def score(ws: Workspace, settings: Any, q: Question, opts: list[str], status: str, error: str | None,
          judge_model: str) -> EvalResult:
    """The result record of one question (see evals/scoring.py for each measure)."""
    from agent_scientist.evals import scoring
    from agent_scientist.report import write_report

    answer = ws.final_answer()
    record: EvalResult = {"id": q.id, "kind": q.kind, "workspace": ws.name, "status": status,
                          "error": error, "answer": answer, "options": opts, "finished_at": now_iso()}
    try:
        report = write_report(ws, settings)
        cites, cited_ids = scoring.citation_measures(report.index)
    except Exception as exc:  # the run is saved; a report failure is recorded, not fatal
        record["report_error"] = f"{type(exc).__name__}: {exc}"[:300]
        cites, cited_ids = {"citations": None, "citations_verified": None, "citation_validity": None}, set()
    record.update(cites)
    record.update(scoring.source_measures(q, ws.papers(), cited_ids, scoring.papers_read(ws)))
    record.update(scoring.claim_measures(ws))
    usage: dict[str, int] = {"scoring_tokens_in": 0, "scoring_tokens_out": 0}
    if q.kind == "mc":
        record.update(scoring.choice_measures(q, opts, answer, _mapper(settings, usage, record)))
    if judge_model:
        record["judge_model"] = judge_model
        record["judge_correct"] = _judge(settings, judge_model, q, answer, usage, record)
    meta = ws.meta
    record.update({"steps": meta.get("steps", 0), "tokens_in": meta.get("tokens_in", 0),
                   "tokens_out": meta.get("tokens_out", 0), "cost_usd": meta.get("cost_usd", 0.0),
                   "scoring_tokens_in": usage["scoring_tokens_in"], "scoring_tokens_out": usage["scoring_tokens_out"]})
    return record


def _metered(model: Any, usage: dict[str, int]) -> Any:
    from agent_scientist.agent.models import UsageMeter

    meter = UsageMeter(model)
    original = model.generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        finally:
            usage["scoring_tokens_in"] += meter.tokens_in
            usage["scoring_tokens_out"] += meter.tokens_out
            meter.tokens_in = meter.tokens_out = 0

    model.generate = generate
    return model


def _mapper(settings: Any, usage: dict[str, int], record: EvalResult) -> Any:
    from agent_scientist.agent.models import build_model
    from agent_scientist.evals.scoring import model_mapper

    def mapper(answer: str, opts: list[str]) -> int | None:
        try:
            return model_mapper(_metered(build_model(settings, "worker"), usage))(answer, opts)
        except Exception as exc:  # the mapping is a fallback: its failure leaves the answer unread
            record["mapping_error"] = f"{type(exc).__name__}: {exc}"[:300]
            return None

    return mapper


def _judge(settings: Any, judge_model: str, q: Question, answer: str | None, usage: dict[str, int],
           record: EvalResult) -> bool | None:
    from dataclasses import replace

    from agent_scientist.agent.models import build_model
    from agent_scientist.evals.scoring import judge

    try:
        model = _metered(build_model(replace(settings, worker_model=judge_model), "worker"), usage)
        return judge(model, q, answer)
    except Exception as exc:
        record["judge_error"] = f"{type(exc).__name__}: {exc}"[:300]
        return None


def _die_with_parent(parent: int, interval: float = 0.5) -> None:
    """A SIGINT to ourselves when the eval process is gone (even SIGKILLed), so this run saves and stops."""
    import os
    import signal
    import threading

    def watch() -> None:
        while True:
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os.kill(os.getpid(), signal.SIGINT)
                return
            except PermissionError:
                pass
            time.sleep(interval)

    threading.Thread(target=watch, name="eval-parent-watch", daemon=True).start()


# Imported lazily by the first model call, memory open and report of a run (measured with sys.modules):
# importing them in the fork server saves each question several seconds of CPU. Missing ones are skipped.
_LAZY_MODULES = ("openai.resources", "litellm.proxy._types", "litellm.llms.litellm_proxy",
                 "litellm.llms.openai_like.dynamic_config", "onnxruntime", "tokenizers", "chromadb.api.rust",
                 "chromadb.api.client", "grpc", "opentelemetry", "jsonschema", "tenacity", "psutil", "orjson")


def preload() -> None:
    """The heavy imports every question needs, done once in the fork server instead of per question."""
    import importlib

    from agent_scientist.agent import loop  # noqa: F401 - smolagents, the registry
    from agent_scientist.agent.models import import_litellm
    from agent_scientist.capabilities import default_capabilities

    import_litellm()
    default_capabilities()
    import agent_scientist.memory.store  # noqa: F401 - chromadb
    import agent_scientist.report  # noqa: F401

    for name in _LAZY_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def entry(root: str, parent: int) -> None:
    """Process entry: own session (one Ctrl-C reaches only the eval, which forwards one), log to eval.log."""
    import os

    os.setsid()
    fd = os.open(Path(root) / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.exit(main([root, str(parent)]))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if len(args) > 1:
            _die_with_parent(int(args[1]))
        return run_question(Path(args[0]))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
