"""The planner loop with a scripted model: recording, limits, errors, resume from disk."""

from __future__ import annotations

from conftest import run_cli
from support.scripted import ScriptedModel, code

from agent_scientist.agent import loop
from agent_scientist.config import load_settings
from agent_scientist.report import write_report
from agent_scientist.workspace import Workspace


def run(*args, capabilities=(), **kwargs):
    """These tests are about the loop itself: no capability unless a test names one."""
    return loop.run(*args, capabilities=list(capabilities), **kwargs)


def _settings(home, **kw):
    return load_settings({"home": str(home), "model": "scripted/test", **kw})


def _actions(ws):
    return [r for r in ws.steps() if r.get("type") == "action"]


def test_steps_are_recorded_with_code_observation_errors_and_answer(home):
    ws = Workspace.create(home, "w", "Does X improve Y?")
    model = ScriptedModel([
        code("x = 6 * 7\nprint(x)"),
        "I forgot the code block.",
        code("1/0"),
        code('final_answer("Yes [arXiv:2401.01234 p.3]")'),
    ])
    outcome = run(ws, _settings(home), model=model, worker_model=model)
    assert (outcome.status, outcome.final_answer) == ("completed", "Yes [arXiv:2401.01234 p.3]")
    steps = _actions(ws)
    assert [s["step"] for s in steps] == [1, 2, 3, 4]
    assert "42" in steps[0]["observation"] and steps[0]["code"].startswith("x = 6 * 7")
    assert "code" in steps[1]["error"].lower()  # no code block: a clear error, the run goes on
    assert "ZeroDivisionError" in steps[2]["error"]
    assert steps[3]["final_answer"] == "Yes [arXiv:2401.01234 p.3]"
    assert all(s["tokens_in"] > 0 and s["started_at"] <= s["ended_at"] for s in steps)
    assert all(s["duration_s"] == round(s["end_ts"] - s["start_ts"], 3) for s in steps)
    meta = Workspace.open(home, "w").meta
    assert meta["status"] == "completed" and meta["steps"] == 4
    assert meta["tokens_in"] == sum(s["tokens_in"] for s in steps)
    assert ws.final_answer() == "Yes [arXiv:2401.01234 p.3]"
    # The model saw its error and the question, with our prompt and citation syntax.
    assert "ZeroDivisionError" in model.calls[3] and "Does X improve Y?" in model.calls[0]
    assert "[arXiv:2401.01234 p.3]" in model.calls[0] and "careful research scientist" in model.calls[0]


def test_max_steps_stops_cleanly_and_resume_continues_with_memory(home):
    ws = Workspace.create(home, "w", "Q?")
    first = ScriptedModel([code("secret = 'alpha-123'\nprint(secret)"), code("print('second')"), code("print('x')")])
    outcome = run(ws, _settings(home, max_steps=2), model=first)
    assert (outcome.status, outcome.reason) == ("interrupted", "max_steps")
    assert len(first.calls) == 2  # no forced final-answer call at the limit
    assert Workspace.open(home, "w").meta["stop_reason"] == "max_steps"

    second = ScriptedModel([code('final_answer("found alpha-123")')])
    outcome = run(Workspace.open(home, "w"), _settings(home), model=second)
    assert outcome.status == "completed"
    prompt = second.calls[0]
    assert "alpha-123" in prompt and "second" in prompt and "Resume the research" in prompt
    assert [s["step"] for s in _actions(ws)] == [1, 2, 3]
    assert [r["type"] for r in ws.steps()].count("run_start") == 2


def test_budget_stops_the_run(home):
    ws = Workspace.create(home, "w", "Q?")
    model = ScriptedModel([code("print(1)")] * 5, model_id="openai/gpt-4o", tokens_in=200_000)
    outcome = run(ws, _settings(home, budget_usd=0.5), model=model)
    assert (outcome.status, outcome.reason) == ("interrupted", "budget")
    meta = Workspace.open(home, "w").meta
    assert meta["cost_usd"] >= 0.5 and meta["steps"] < 5


def test_follow_up_instruction_on_a_finished_workspace(home):
    ws = Workspace.create(home, "w", "Q?")
    run(ws, _settings(home), model=ScriptedModel([code('final_answer("first answer")')]))
    model = ScriptedModel([code('final_answer("second answer")')])
    outcome = run(Workspace.open(home, "w"), _settings(home), model=model, instruction="Check Z too.")
    assert outcome.final_answer == "second answer"
    assert "Follow-up request: Check Z too." in model.calls[0] and "first answer" in model.calls[0]
    assert Workspace.open(home, "w").final_answer() == "second answer"


def test_resume_after_a_truncated_steps_file(home):
    ws = Workspace.create(home, "w", "Q?")
    run(ws, _settings(home, max_steps=2), model=ScriptedModel([code("print('one')"), code("print('two')")]))
    with open(ws.steps_path, "a") as fh:
        fh.write('{"type": "action", "step": 3, "observation": "half')
    model = ScriptedModel([code('final_answer("ok")')])
    assert run(Workspace.open(home, "w"), _settings(home), model=model).status == "completed"
    assert [s["step"] for s in _actions(Workspace.open(home, "w"))] == [1, 2, 3]


def test_a_model_error_fails_the_run_and_keeps_state(home):
    class Broken(ScriptedModel):
        def generate(self, messages, **kw):
            if len(self.calls) >= 1:
                raise ConnectionError("provider unreachable")
            return super().generate(messages, **kw)

    ws = Workspace.create(home, "w", "Q?")
    outcome = run(ws, _settings(home), model=Broken([code("print('kept')")]))
    assert outcome.status == "failed" and "provider unreachable" in outcome.reason
    meta = Workspace.open(home, "w").meta
    assert meta["status"] == "failed" and meta["steps"] == 1
    assert "kept" in _actions(ws)[0]["observation"]
    log = ws.root / "run.log"  # the traceback is kept, not only the one-line reason
    assert outcome.log == str(log) and ws.steps()[-1]["log"] == "run.log"
    assert "Traceback (most recent call last)" in log.read_text() and "ConnectionError: provider unreachable" in \
        log.read_text()
    shown = run_cli(home, "show", "w")
    assert f"traceback: {log}" in shown.stdout, shown.stderr
    assert "The traceback of the failure is in `run.log`" in write_report(ws, _settings(home)).text


def test_planning_steps_are_recorded(home):
    ws = Workspace.create(home, "w", "Q?")
    model = ScriptedModel(["1. search\n2. read\n<end_plan>", code('final_answer("a")')])
    run(ws, _settings(home, planning_interval=3), model=model)
    kinds = [r["type"] for r in ws.steps()]
    assert kinds == ["run_start", "planning", "action", "run_end"]


def test_a_capability_plugs_in_and_worker_tokens_are_counted(home, monkeypatch):
    from support.echo_capability import EchoCapability

    echo = EchoCapability()
    ws = Workspace.create(home, "w", "Q?")
    planner_model = ScriptedModel([code("print(ask_worker('hi'))"), code('final_answer("ok")')], tokens_in=100)
    worker = ScriptedModel(["hello back"], model_id="openai/gpt-4o-mini", tokens_in=1000, tokens_out=50)
    run(ws, _settings(home), model=planner_model, worker_model=worker, capabilities=[echo])
    steps = _actions(ws)
    assert "worker says: hello back (step 1)" in steps[0]["observation"]
    assert steps[0]["worker_tokens_in"] == 1000 and steps[0]["worker_cost_usd"] > 0
    assert echo.events == ["step 1", "step 2", "end completed"]
    assert "Echo capability instructions" in planner_model.calls[0] and "ask_worker" in planner_model.calls[0]
    meta = Workspace.open(home, "w").meta
    assert meta["tokens_in"] == sum(s["tokens_in"] for s in steps) + 1000
    assert meta["cost_usd"] == round(steps[0]["worker_cost_usd"], 6)


def test_ctrl_c_during_end_of_run_hooks_keeps_the_outcome(home, monkeypatch):
    from support.echo_capability import EchoCapability

    def interrupted(agent, status):
        raise KeyboardInterrupt

    class Interrupting(EchoCapability):
        def register(self, ctx, box):
            super().register(ctx, box)
            box.run_end_hooks.insert(0, interrupted)

    ws = Workspace.create(home, "w", "Q?")
    outcome = run(ws, _settings(home), model=ScriptedModel([code('final_answer("ok")')]),
                  capabilities=[Interrupting()])
    assert outcome.status == "completed"
    assert ws.steps()[-1]["type"] == "run_end" and Workspace.open(home, "w").status == "completed"
