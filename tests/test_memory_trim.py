"""History trimming and lessons in real planner runs, with scripted planner and worker models."""

from __future__ import annotations

import re

from support.scripted import ScriptedModel, code

from agent_scientist.agent import loop
from agent_scientist.agent.history import SummaryStep, rebuild_history
from agent_scientist.config import load_settings
from agent_scientist.memory import open_memory, read_notes
from agent_scientist.memory.capability import MemoryCapability
from agent_scientist.workspace import Workspace

THRESHOLD = 4000
LESSON = "Print only what the next step needs."


def run(*args, **kwargs):
    """A planner run with the memory capability only."""
    return loop.run(*args, capabilities=[MemoryCapability()], **kwargs)


def worker_reply(messages) -> str:
    prompt = "\n".join(str(m.content) for m in messages)
    if "LESSONS (JSON list)" in prompt:
        return f'["{LESSON}"]'
    found = re.search(r"STEPS (\d+)-(\d+):", prompt)
    if found:
        markers = sorted(set(re.findall(r"marker-(\d+)", prompt)), key=int)
        return (f"Goal: test trimming.\nDone: steps {found[1]}-{found[2]}; markers seen {markers[0]}..{markers[-1]}.\n"
                "Key results: none.\nErrors: none.\nState: continuing.")
    return '{"action": "add", "target": "", "text": ""}'


def script(first: int, last: int, finish: bool = True) -> list[str]:
    steps = [code(f"print('step {i} marker-{i} ' + 'x' * 400)") for i in range(first, last + 1)]
    return steps + ([code('final_answer("done")')] if finish else [])


def settings_for(home, **kw):
    return load_settings({"home": str(home), "model": "scripted/test", "max_steps": 100, **kw})


def prompt_sizes(ws) -> list[int]:
    return [r["tokens_in"] for r in ws.steps() if r.get("type") == "action"]


def test_trimming_keeps_a_long_run_under_the_threshold(home):
    ws = Workspace.create(home, "long", "Does trimming work?")
    worker = ScriptedModel([worker_reply] * 200)
    outcome = run(ws, settings_for(home, context_threshold_tokens=THRESHOLD),
                          model=ScriptedModel(script(1, 59)), worker_model=worker)
    assert outcome.status == "completed"
    sizes = prompt_sizes(ws)
    assert len(sizes) == 60  # every step is kept on disk in full
    records = ws.steps()
    summaries = [r for r in records if r.get("type") == "summary"]
    assert summaries and all(r["text"].startswith("Goal: test trimming.") for r in summaries)
    # Each time a prompt passed the threshold, the next one was back under it.
    over = [i for i, size in enumerate(sizes[:-1]) if size > THRESHOLD]
    assert over and all(sizes[i + 1] <= THRESHOLD for i in over)
    assert len(over) == len(summaries)
    assert max(sizes) < THRESHOLD * 1.2
    # Summaries chain: each covers everything from step 1 to an older step, and is kept in `history`.
    assert all(r["covers"][0] == 1 for r in summaries)
    assert [r["covers"][1] for r in summaries] == sorted(r["covers"][1] for r in summaries)
    stored = open_memory(ws, settings_for(home)).summaries()
    assert [[s["first"], s["last"]] for s in stored] == [r["covers"] for r in summaries]
    # Resume rebuilds the same trimmed view: one summary, then the kept steps.
    view = rebuild_history(records)
    kinds = [type(s).__name__ for s in view]
    assert kinds.count("SummaryStep") == 1 and kinds.count("TaskStep") == 1
    last = summaries[-1]["covers"][1]
    assert [s.step_number for s in view if type(s).__name__ == "ActionStep"] == list(range(last + 1, 61))
    # The end-of-run lesson was written.
    assert [n["text"] for n in read_notes(ws, settings_for(home), kinds=["lesson"])] == [LESSON]


def test_without_trimming_the_prompt_keeps_growing(home):
    ws = Workspace.create(home, "untrimmed", "Q?")
    run(ws, settings_for(home, context_threshold_tokens=0), model=ScriptedModel(script(1, 29)),
                worker_model=ScriptedModel([worker_reply] * 10))
    sizes = prompt_sizes(ws)
    assert sizes == sorted(sizes) and max(sizes) > 1.5 * THRESHOLD
    assert not [r for r in ws.steps() if r.get("type") == "summary"]


def test_resume_sees_the_summary_and_the_lessons(home):
    ws = Workspace.create(home, "resumed", "Q?")
    worker = ScriptedModel([worker_reply] * 100)
    s = settings_for(home, context_threshold_tokens=THRESHOLD, max_steps=30)
    first = run(ws, s, model=ScriptedModel(script(1, 40, finish=False)), worker_model=worker)
    assert (first.status, first.reason) == ("interrupted", "max_steps")
    summary = [r for r in ws.steps() if r.get("type") == "summary"][-1]
    second = ScriptedModel([code('final_answer("done")')])
    run(Workspace.open(home, "resumed"), s, model=second, worker_model=worker)
    prompt = second.calls[0]
    assert summary["text"] in prompt and f"Summary of steps 1-{summary['covers'][1]}" in prompt
    assert "marker-1 " not in prompt and "marker-30 " in prompt  # trimmed steps gone, recent ones kept
    assert LESSON in prompt  # lessons of the first run are in the planner's instructions
    assert len(prompt) // 4 < THRESHOLD * 1.2


def test_trimming_without_a_worker_model_writes_a_mechanical_summary(home):
    ws = Workspace.create(home, "noworker", "Q?")
    from agent_scientist.contracts import ToolContext
    from agent_scientist.memory.trim import HistoryTrimmer

    ctx = ToolContext(ws=ws, settings=settings_for(home))
    steps = rebuild_history([{"type": "run_start", "task": "Q?"}] + [
        {"type": "action", "step": i, "code": f"print({i})", "observation": f"out {i}", "tokens_in": 10}
        for i in range(1, 7)])

    class Agent:  # what the callback needs of the planner: its memory
        class memory:
            pass
    Agent.memory.steps = steps
    assert HistoryTrimmer(ctx, threshold=1).trim(Agent) == (1, 4)
    assert isinstance(Agent.memory.steps[1], SummaryStep) and "automatic summary" in Agent.memory.steps[1].text
    assert "out 3" in Agent.memory.steps[1].text
    assert [getattr(s, "step_number", None) for s in Agent.memory.steps] == [None, None, 5, 6]
    assert ws.steps()[-1]["covers"] == [1, 4]


def test_planner_uses_remember_recall_and_the_memory_agent(home):
    ws = Workspace.create(home, "agent", "Does label smoothing help calibration?")
    planner_model = ScriptedModel([
        code('print(remember("Label smoothing lowers ECE from 4.5% to 2.1% on ImageNet.", kind="result", '
             'source="arXiv:1906.02629v3", page=4))'),
        code('print(recall("calibration", k=3))'),
        code('print(memory(task="What do we know about calibration, with sources?"))'),
        code('final_answer("yes")'),
    ])
    worker = ScriptedModel([
        code('hits = recall("calibration")\nprint(hits[0]["id"], hits[0]["source"])'),
        code('final_answer("ECE falls from 4.5% to 2.1% (arXiv:1906.02629v3 p.4).")'),
        "[]",  # no lessons from this run
    ])
    outcome = run(ws, settings_for(home), model=planner_model, worker_model=worker)
    assert outcome.status == "completed"
    actions = [r for r in ws.steps() if r.get("type") == "action"]
    assert "Saved note n-" in actions[0]["observation"]
    assert "'source': 'arXiv:1906.02629v3'" in actions[1]["observation"]
    assert "ECE falls from 4.5% to 2.1% (arXiv:1906.02629v3 p.4)." in actions[2]["observation"]
    assert "arXiv:1906.02629v3" in worker.calls[1]  # the memory agent saw its recall results
    assert "memory" in planner_model.calls[0] and "Your research memory" in planner_model.calls[0]
    assert read_notes(ws, settings_for(home), kinds=["lesson"]) == []


def test_lessons_in_the_instructions_are_bounded_newest_first(home):
    from agent_scientist.memory.capability import lessons_instructions

    s = settings_for(home)
    store = open_memory(Workspace.create(home, "lessons"), s)
    store.add_notes([{"text": f"Lesson number {i}: " + "be careful " * 20, "kind": "lesson",
                      "created_at": f"2026-01-{i + 1:02d}T00:00:00+00:00"} for i in range(20)])
    store.add_notes([{"text": "Not a lesson.", "kind": "finding"}])
    text = lessons_instructions(store, limit=1000)
    assert len(text) <= 1000 and text.startswith("Lessons from earlier runs")
    assert "Lesson number 19" in text and "Lesson number 0:" not in text and "Not a lesson" not in text
    assert lessons_instructions(open_memory(Workspace.create(home, "none"), s)) == ""


def _messages(steps) -> list[str]:
    return [str(m.content) for s in steps for m in s.to_messages()]


def test_summary_keeps_identifiers_verbatim_and_resume_rebuilds_the_same_view(home):
    from agent_scientist.contracts import ToolContext
    from agent_scientist.memory.trim import HistoryTrimmer

    ws = Workspace.create(home, "ids", "Q?")
    observations = ["Found arXiv:2401.01234v2 and 1906.02629v3.", "Saved note n-1a2b3c4d5e (local:ab12cd34 p.3).",
                    "run 3 wrote results/metrics.json: accuracy 0.912", "plain text", "more text", "last"]
    ws.append_step({"type": "run_start", "task": "Q?"})
    for i, text in enumerate(observations, 1):
        ws.append_step({"type": "action", "step": i, "code": f"print({i})", "observation": text, "tokens_in": 10})
    # The worker's summary garbles two identifiers and drops the others.
    worker = ScriptedModel(["Goal: Q.\nDone: read arXiv:2401.01234 and saved a note.\nState: go on."])
    ctx = ToolContext(ws=ws, settings=settings_for(home), worker_model=worker)

    class Agent:
        class memory:
            pass
    Agent.memory.steps = rebuild_history(ws.steps())
    assert HistoryTrimmer(ctx, threshold=1).trim(Agent) == (1, 4)
    text = Agent.memory.steps[1].text
    assert text.startswith("Goal: Q.")
    for ident in ("arXiv:2401.01234v2", "1906.02629v3", "n-1a2b3c4d5e", "local:ab12cd34", "run 3",
                  "results/metrics.json"):
        assert ident in text
    # What a resume rebuilds from steps.jsonl is exactly the live, trimmed view.
    assert _messages(rebuild_history(ws.steps())) == _messages(Agent.memory.steps)


def test_a_run_with_a_corrupt_memory_goes_on_without_it_and_says_so(home, capsys):
    ws = Workspace.create(home, "corrupt", "Q?")
    (ws.memory_dir / "chroma.sqlite3").write_bytes(b"not a database" * 200)
    planner_model = ScriptedModel([code('print(remember("A finding."))'), code('final_answer("done")')])
    outcome = run(ws, settings_for(home), model=planner_model,
                          worker_model=ScriptedModel([worker_reply] * 5))
    assert outcome.status == "completed"
    actions = [r for r in ws.steps() if r.get("type") == "action"]
    assert "Memory is unavailable in this run" in (actions[0]["error"] or actions[0]["observation"] or "")
    captured = capsys.readouterr()
    assert "Memory is disabled for this run" in captured.out + captured.err
    assert "cannot be opened" in captured.out + captured.err
