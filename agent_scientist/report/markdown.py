"""The markdown report, assembled by code from the workspace: header, answer, findings, experiments,
open questions, references and the appendix of unverified citations.

Everything is read from the workspace (and the notes passed in), in a stable order, with no clock:
the same workspace gives the same bytes. Text from the model or from data is made inert.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent_scientist.papers.citation_index import CitationIndex, workspace_page_count, workspace_visuals
from agent_scientist.papers.citations import paper_ref_key, parse_part
from agent_scientist.papers.layout import paper_dir
from agent_scientist.papers.visuals import find_figure
from agent_scientist.records import (
    Note,
    PaperMeta,
    RunRecord,
    StepRecord,
    failures_summary,
    latest_review,
    stop_label,
)
from agent_scientist.report.answer import IMAGE_SUFFIXES, AnswerRenderer, code_span, relative_file_link
from agent_scientist.report.citations import UNVERIFIED_ANCHOR, escape_inline, render_group
from agent_scientist.report.evidence import annotate, evidence_section, finish
from agent_scientist.report.evidence import header_line as evidence_header
from agent_scientist.report.missed import may_have_missed, reference_links
from agent_scientist.workspace import Workspace, evidence_usage

FINDING_KINDS = ("finding", "result")
OPEN_KINDS = ("question", "todo")
KIND_LABELS = {"finding": "Finding", "result": "Result", "question": "Question", "todo": "To do"}
MAX_AUTHORS = 10
MAX_ARTIFACT_LINKS = 30
MAX_IMAGES_PER_RUN = 8
MAX_CELL = 200
# The planner's stop reasons, as a reader of the report would say them.
STOP_REASONS = {"max_steps": "the step limit (--max-steps) was reached",
                "budget": "the budget (--budget-usd) was reached"}


@dataclass
class MarkdownReport:
    """The rendered report and what was learnt while rendering it."""

    text: str
    index: CitationIndex
    partial: bool
    answer: str | None
    review: StepRecord | None = None  # the last answer's claim check (agent_scientist.review)
    sections: list[tuple[str, str]] = field(default_factory=list)  # (key, markdown) in order: see _Builder.sections
    figures: list[tuple[Path, str]] = field(default_factory=list)  # (image, its name beside the report) to copy


def report_date(ws: Workspace, steps: list[StepRecord]) -> str:
    """When the run last did something: the latest step's end, else the workspace's last update."""
    stamps = [str(s["ended_at"]) for s in steps if s.get("ended_at")]
    raw = max(stamps) if stamps else str(ws.meta.get("updated_at") or ws.meta.get("created_at") or "")
    try:
        stamp = datetime.fromisoformat(raw)
    except ValueError:
        return raw or "unknown"
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC)
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def stop_reason(ws: Workspace, steps: list[StepRecord]) -> str:
    reason = str(ws.meta.get("stop_reason") or "")
    for record in steps:
        if record.get("type") == "run_end" and record.get("reason"):
            reason = str(record["reason"])
    return reason


def sort_notes(notes: list[Note], kinds: tuple[str, ...]) -> list[Note]:
    """Active notes of these kinds in a stable order (created_at, id)."""
    chosen = [n for n in notes if n.get("kind") in kinds and (n.get("status") or "active") == "active"]
    return sorted(chosen, key=lambda n: (str(n.get("created_at") or ""), str(n.get("id") or "")))


class _Builder:
    def __init__(self, ws: Workspace, notes: list[Note] | None, report_dir: Path, notes_error: str,
                 strict: bool = False, figures_beside: bool = False):
        self.ws = ws
        self.notes = notes
        self.notes_error = notes_error
        self.report_dir = report_dir
        self.steps = ws.steps()
        self.papers = ws.papers()
        self.visuals = workspace_visuals(ws)
        self.index = CitationIndex(self.papers, workspace_page_count(ws), self.visuals)
        self.figures_beside = figures_beside
        self.copies: list[tuple[Path, str]] = []
        self.answer = ws.final_answer()
        self.partial = ws.meta.get("status") != "completed" or self.answer is None
        self.strict = strict
        self.review = latest_review(self.steps, self.answer) if self.answer is not None else None

    def renderer(self, location: str) -> AnswerRenderer:
        return AnswerRenderer(self.index, self.ws.files_dir, self.report_dir, location)

    def sections(self) -> list[tuple[str, str]]:
        """The report's sections in order, each (key, markdown): the content every format renders."""
        blocks = [("header", self.header()), ("answer", self.answer_section())]
        if self.review:
            blocks.append(("evidence", evidence_section(self.review, self.index, self.strict)))
        blocks += [("findings", self.findings()), ("experiments", self.experiments()),
                   ("open_questions", self.open_questions()), ("figures", self.cited_figures()),
                   ("references", self.references()),
                   ("changes", self.changes()), ("missed", self.missed()), ("unverified", self.appendix()),
                   ("footer", f"---\n\n*Generated by agent-scientist from workspace {code_span(self.ws.name)}.*")]
        return [(key, block.strip("\n")) for key, block in blocks if block]

    # -- sections ------------------------------------------------------------
    def header(self) -> str:
        meta = self.ws.meta
        question = " ".join(str(meta.get("question") or "").split())
        title = escape_inline(question) if question else f"Research report: {escape_inline(self.ws.name)}"
        models = meta.get("models") or {}
        models_text = ", ".join(f"{escape_inline(role)} {code_span(str(name))}"
                                for role, name in sorted(models.items()) if name) or "not recorded"
        status = str(meta.get("status") or "unknown")
        stopped = stop_label(status, stop_reason(self.ws, self.steps))
        lines = [
            f"# {title}", "",
            f"- **Date:** {report_date(self.ws, self.steps)}",
            f"- **Workspace:** {code_span(self.ws.name)}",
            f"- **Status:** {escape_inline(stopped)}" + (" (partial report)" if self.partial else ""),
            f"- **Models:** {models_text}",
            f"- **Steps:** {int(meta.get('steps') or 0)}",
            f"- **Tokens:** {int(meta.get('tokens_in') or 0):,} in, {int(meta.get('tokens_out') or 0):,} out",
            f"- **Cost:** ${float(meta.get('cost_usd') or 0.0):.4f}",
        ]
        evidence = evidence_usage(self.steps)
        if evidence["tokens_in"] or evidence["tokens_out"]:
            lines.append(f"- **Of which evidence:** {evidence['tokens_in']:,} in, {evidence['tokens_out']:,} out, "
                         f"${evidence['cost_usd']:.4f} (gather_evidence on the worker model)")
        if self.review:
            lines.append(evidence_header(self.review))
        if self.partial:
            reason = stop_reason(self.ws, self.steps)  # free words an older run kept are shown, not dropped
            why = STOP_REASONS.get(reason, reason if status == "interrupted" and reason != "interrupted" else "")
            lines += ["", f"> **Partial report.** The run has not completed ({escape_inline(stopped)}"
                          + (f"; {why}" if why else "") + ")."]
            failures = failures_summary(self.steps)
            if failures:
                lines.append(f"> What went wrong: {escape_inline(failures)}.")
            log = next((str(r.get("log") or "") for r in reversed(self.steps) if r.get("type") == "run_end"), "")
            if status == "failed" and log:
                lines.append(f"> The traceback of the failure is in {code_span(log)} in the workspace folder.")
            if self.answer is None:
                lines.append("> No final answer was given: the sections below show what the workspace holds so far.")
            if status in ("interrupted", "failed"):
                lines.append(f"> Continue the run with {code_span('agent-scientist resume ' + self.ws.name)}, "
                             "then export the report again.")
        return "\n".join(lines)

    def answer_section(self) -> str:
        if self.answer is None:
            return "## Answer\n\n*No final answer was given.*"
        body = finish(self.renderer("answer").render(annotate(self.answer, self.review, self.strict)), self.review)
        return "## Answer\n\n" + (body or "*The final answer was empty.*") + self.disagreement()

    def disagreement(self) -> str:
        """'Disagreement in the literature': gathered questions whose evidence took both sides, where the
        answer cites a paper on either side."""
        from agent_scientist.memory.evidence import disagreements

        lines = []
        for question, sides in disagreements(self.ws):
            if not any(label in (self.answer or "") for side in sides.values() for label in side):
                continue
            lines.append(f"- On {escape_inline(question)}: supported by {escape_inline(', '.join(sides['supports']))}; "
                         f"contradicted by {escape_inline(', '.join(sides['contradicts']))}.")
        return "\n\n**Disagreement in the literature**\n\n" + "\n".join(lines) if lines else ""

    def _note_line(self, note: Note) -> str:
        location = f"{note.get('kind', 'note')} note {note.get('id', '?')}"
        text = self.renderer(location).render_line(str(note.get("text") or ""))
        label = KIND_LABELS.get(str(note.get("kind")), str(note.get("kind") or "Note").capitalize())
        line = f"- **{escape_inline(label)}:** {text}"
        source = self._note_source(note, location)
        return line + (f" *(source: {source})*" if source else "")

    def _note_source(self, note: Note, location: str) -> str:
        """A note's sources ("arXiv:ID; run:3", merged by memory): papers become verified citations."""
        parts = [p.strip() for p in str(note.get("source") or "").split(";") if p.strip()]
        page = note.get("page") or None
        papers = [p for p in parts if paper_ref_key(p)]
        shown = []
        for part in parts:
            if part in papers:
                raw = part + (f" p.{page}" if page and len(papers) == 1 else "")
                shown.append(render_group([self.index.cite(parse_part(raw), raw, location)]))
            else:
                shown.append(escape_inline(part) + (f", p.{escape_inline(page)}" if page and not papers else ""))
        return "; ".join(shown)

    def _notes_section(self, title: str, kinds: tuple[str, ...], empty: str) -> str:
        if self.notes is None:
            why = f" ({escape_inline(self.notes_error)})" if self.notes_error else ""
            return f"## {title}\n\n*Memory unavailable: notes could not be read{why}.*"
        chosen = sort_notes(self.notes, kinds)
        if not chosen:
            return f"## {title}\n\n*{empty}*"
        return f"## {title}\n\n" + "\n".join(self._note_line(n) for n in chosen)

    def findings(self) -> str:
        return self._notes_section("Key findings", FINDING_KINDS, "No findings or results were recorded in memory.")

    def open_questions(self) -> str:
        return self._notes_section("Open questions and next steps", OPEN_KINDS,
                                   "No open questions or next steps were recorded in memory.")

    def experiments(self) -> str:
        runs = sorted(self.ws.runs(), key=lambda r: (int(r.get("run") or 0)))
        if not runs:
            return "## Experiments\n\n*No experiments were run.*"
        rows = ["| Run | Script | Arguments | Exit | Duration | Metrics |", "|---:|---|---|---|---:|---|"]
        where = any(run.get("executor") not in (None, "local") for run in runs)  # only when not all ran here
        if where:
            rows = ["| Run | Script | Arguments | Exit | Duration | Where | Metrics |", "|---:|---|---|---|---:|---|---|"]
        for run in runs:
            cells = _run_cells(run)
            if where:
                cells.insert(5, _where_text(run))
            rows.append("| " + " | ".join(cells) + " |")
        # Artifacts are paths under files/: a later run writing the same path replaced the earlier file.
        latest: dict[str, int] = {}
        for run in runs:
            for path in run.get("artifacts") or []:
                latest[str(path)] = max(latest.get(str(path), 0), int(run.get("run") or 0))
        blocks = ["## Experiments", "\n".join(rows)]
        for run in runs:
            artifacts = self.artifacts(run, latest)
            if artifacts:
                blocks.append(artifacts)
        return "\n\n".join(blocks)

    def artifacts(self, run: RunRecord, latest: dict[str, int]) -> str:
        """Links to a run's artifacts and saved output, and its images embedded (if still its own)."""
        number = int(run.get("run") or 0)
        paths = sorted({str(p) for p in (run.get("artifacts") or [])})
        links: list[str] = []
        images: list[str] = []
        missing = 0
        for path in paths:
            link = relative_file_link(self.ws.files_dir, path, self.report_dir)
            if link is None:
                missing += 1
                continue
            replaced = latest.get(path, number) > number
            if path.lower().endswith(IMAGE_SUFFIXES) and not replaced and len(images) < MAX_IMAGES_PER_RUN:
                images.append(f"![Run {number}: {escape_inline(path)}]({link})")
            elif len(links) < MAX_ARTIFACT_LINKS:
                note = f" (since replaced by run {latest[path]})" if replaced else ""
                links.append(f"[{escape_inline(path)}]({link}){note}")
        lines = []
        if paths:
            lines.append(f"**Run {number} artifacts:**" + (" " + ", ".join(links) if links else ""))
            notes = []
            extra = len(paths) - len(links) - len(images) - missing
            if extra > 0:
                notes.append(f"{extra} more not listed")
            if missing:
                notes.append(f"{missing} missing or outside files/")
            if notes:
                lines[0] += f" *({'; '.join(notes)})*"
        output = self.run_output(run, set(paths))
        if output:
            lines.append(f"**Run {number} output:** {output}")
        return "\n\n".join(lines + images)

    def run_output(self, run: RunRecord, artifacts: set[str]) -> str:
        """Links to the non-empty files the runner saved in the run's output_dir (stdout.txt, stderr.txt)."""
        output_dir = str(run.get("output_dir") or "").strip("/")
        folder = self.ws.files_dir / output_dir
        if not output_dir or not folder.is_dir():
            return ""
        links: list[str] = []
        for file in sorted(folder.iterdir(), key=lambda f: f.name):
            rel = f"{output_dir}/{file.name}"
            if rel in artifacts or not file.is_file() or file.stat().st_size == 0:
                continue
            link = relative_file_link(self.ws.files_dir, rel, self.report_dir)
            if link is not None and len(links) < MAX_ARTIFACT_LINKS:
                links.append(f"[{escape_inline(file.name)}]({link})")
        return ", ".join(links)

    def cited_figures(self) -> str:
        """Each figure the answer cites, once, under its caption and source (the image beside the report when
        exported to a folder, else linked where the paper's cache holds it)."""
        by_id = {str(p["id"]): p for p in self.papers}
        seen: set[tuple[str, int]] = set()
        blocks: list[str] = []
        for occ in self.index.occurrences:
            if not occ.verified or occ.figure is None or (occ.paper_id, occ.figure) in seen:
                continue
            seen.add((occ.paper_id, occ.figure))
            figure = find_figure(self.visuals(by_id[occ.paper_id]), occ.figure)
            if figure is None or not figure.get("image"):
                continue
            folder = paper_dir(self.ws, occ.paper_id)
            if self.figures_beside:
                name = f"figures/{folder.name}-{figure['image']}"
                self.copies.append((folder / figure["image"], name))
                link: str | None = name
            else:
                link = relative_file_link(folder, figure["image"], self.report_dir)
            caption = escape_inline(figure.get("caption") or f"Figure {occ.figure}")
            title = escape_inline(by_id[occ.paper_id].get("title") or occ.paper_id)
            image = f"![{caption}]({link})\n\n" if link else ""
            blocks.append(f"{image}*{caption}*  \nSource: [{occ.number}](#ref-{occ.number}) {title}, "
                          f"Fig. {occ.figure}, p.{figure['page']}.")
        return "## Figures cited\n\n" + "\n\n".join(blocks) if blocks else ""

    def references(self) -> str:
        refs = self.index.references()
        lines = ["## References", ""]
        if not refs:
            held = len(self.papers)
            lines.append(f"*No papers were cited; the workspace holds {held} paper{'' if held == 1 else 's'}.*"
                         if held else "*The workspace holds no papers.*")
        for number, paper in refs:
            lines.append(f"{number}. <a id=\"ref-{number}\"></a>{self.reference(paper)}")
        uncited = len(self.papers) - len(refs)
        if refs and uncited:
            lines += ["", f"*{uncited} other paper{' in the workspace was' if uncited == 1 else 's in the workspace were'}"
                          " not cited.*"]
        return "\n".join(lines)

    def reference(self, paper: PaperMeta) -> str:
        authors = [" ".join(str(a).split()) for a in (paper.get("authors") or [])]
        names = ", ".join(authors[:MAX_AUTHORS]) + (" et al." if len(authors) > MAX_AUTHORS else "")
        parts = [escape_inline(names) + "." if names else "Unknown authors."]
        parts.append(f"*{escape_inline(paper.get('title') or 'Untitled')}*.")
        if paper.get("venue"):
            parts.append(f"{escape_inline(paper['venue'])}.")
        if paper.get("year"):
            parts.append(f"{escape_inline(paper['year'])}.")
        if paper.get("citation_count") is not None and paper.get("citation_count") != "":
            parts.append(f"Cited by {escape_inline(paper['citation_count'])}.")
        pid = str(paper["id"])
        parsed = paper_ref_key(pid)
        if parsed and parsed[0] in ("doi", "s2", "pmid", "pmcid"):
            parts += reference_links(paper)
        elif parsed and parsed[0] == "arxiv":
            primary = paper.get("primary_category")
            parts.append(f"arXiv:{escape_inline(pid)}" + (f" \\[{escape_inline(primary)}\\]" if primary else "") + ".")
            url = f"https://arxiv.org/abs/{pid}"
            parts.append(f"[arxiv.org/abs/{escape_inline(pid)}]({url})")
        else:
            link = relative_file_link(paper_dir(self.ws, pid), str(paper.get("file") or "paper.pdf"), self.report_dir)
            original = Path(str(paper.get("original_path") or "")).name
            text = f"Local file {code_span(pid)}"
            if link:
                text += f": [{escape_inline(paper.get('file') or 'paper.pdf')}]({link})"
            if original:
                text += f" (added from {code_span(original)})"
            parts.append(text + ".")
        if parsed and parsed[0] == "arxiv" and paper.get("doi"):
            parts.append(f"DOI [{escape_inline(paper['doi'])}](https://doi.org/{paper['doi']}).")
        if paper.get("retracted"):
            parts.append("**RETRACTED: do not rely on it.**")
        linked = [n for n in paper.get("notices") or [] if not str(n).startswith("this is a")]
        if linked and not paper.get("retracted"):
            parts.append(f"**Notices: {escape_inline('; '.join(map(str, linked[:3])))}.**")
        return " ".join(parts)

    def changes(self) -> str:
        """The last `update`: new papers per recorded search, new retraction flags."""
        from agent_scientist.papers.update import updates

        done = updates(self.ws)
        if not done:
            return ""
        last = done[-1]
        lines = [f"## What changed since {escape_inline(last['since'])}", "",
                 f"Checked {escape_inline(str(last['at'])[:16].replace('T', ' '))} by `agent-scientist update` "
                 "(the recorded searches re-run, the papers checked for retractions).", ""]
        for s in last.get("searches") or []:
            head = f"- {code_span(s['source'])} search {code_span(s['query'])}: "
            if s.get("error"):
                lines.append(head + f"failed ({escape_inline(s['error'])})")
                continue
            lines.append(head + (f"{len(s['new'])} new" if s["new"] else "nothing new"))
            lines += [f"  - *{escape_inline(w.get('title') or 'Untitled')}* ({escape_inline(w.get('year') or '')}) "
                      f"{code_span(w['id'])}" for w in s["new"]]
        lines += [f"- **{code_span(f['id'])} is now {escape_inline(f['flag'])}**: *{escape_inline(f['title'])}*"
                  for f in last.get("flags") or []]
        return "\n".join(lines)

    def missed(self) -> str:
        items = may_have_missed(self.ws, [p for _, p in self.index.references()], self.papers)
        if not items:
            return ""
        lines = ["## What you may have missed", "",
                 "Papers the cited papers point to that this workspace never read (from the citation graph "
                 "already fetched):", ""]
        for item in items:
            facts = ", ".join(x for x in (escape_inline(item.get("venue") or ""), escape_inline(item.get("year") or ""))
                              if x)
            lines.append(f"- *{escape_inline(item.get('title') or 'Untitled')}*" + (f" ({facts})" if facts else "")
                         + f" {code_span(item['id'])}: {escape_inline(item['why'])}.")
        return "\n".join(lines)

    def appendix(self) -> str:
        entries = self.index.unverified()
        if not entries:
            return ""
        lines = [f"<a id=\"{UNVERIFIED_ANCHOR}\"></a>", "", "## Appendix: unverified citations", "",
                 "These citations were removed from the text because the workspace cannot back them.", "",
                 "| Label | As written | Where | Why |", "|---|---|---|---|"]
        for entry in entries:
            lines.append(f"| {entry['label']} | {escape_inline(entry['raw'][:MAX_CELL])} | "
                         f"{escape_inline(', '.join(entry['locations']))} | {escape_inline(entry['reason'])} |")
        return "\n".join(lines)


def _run_cells(run: RunRecord) -> list[str]:
    args = run.get("args")
    if isinstance(args, list):
        args_text = shlex.join(str(a) for a in args)
    elif isinstance(args, dict):
        args_text = json.dumps(args, sort_keys=True, ensure_ascii=False)
    else:
        args_text = str(args or "")
    if run.get("timed_out"):
        exit_text = "timed out"
    elif run.get("exit_code") is None:
        exit_text = "none"
    else:
        exit_text = str(run.get("exit_code"))
    duration = run.get("duration_s")
    duration_text = f"{float(duration):.1f} s" if isinstance(duration, int | float) else ""
    return [str(int(run.get("run") or 0)), _cell(run.get("script") or ""), _cell(args_text),
            exit_text, duration_text, _cell(_metrics_text(run.get("metrics")))]


def _where_text(run: RunRecord) -> str:
    """The machine a run ran on: `local`, or `Ray: <node>` for a run on a Ray worker."""
    if run.get("executor") in (None, "local"):
        return "local"
    node = str(run.get("node") or run.get("node_ip") or "?")
    return _cell(f"{str(run['executor']).capitalize()}: {node}")


def _metrics_text(metrics: Any) -> str:
    if not isinstance(metrics, dict) or not metrics:
        return ""
    items = []
    for key in sorted(metrics, key=str):
        value = metrics[key]
        if isinstance(value, float):
            shown = f"{value:.4g}"
        elif isinstance(value, str | int | bool) or value is None:
            shown = str(value)
        else:
            shown = json.dumps(value, sort_keys=True, ensure_ascii=False)
        items.append(f"{key} = {shown}")
    return "; ".join(items)


def _cell(text: Any) -> str:
    text = " ".join(str(text).split())
    if len(text) > MAX_CELL:
        text = text[:MAX_CELL] + "…"
    return escape_inline(text)


def build_markdown(ws: Workspace, notes: list[Note] | None, report_dir: Path | None = None,
                   notes_error: str = "", strict: bool = False, figures_beside: bool = False) -> MarkdownReport:
    """Assemble the report; `notes` None means memory was unavailable; links are relative to report_dir.

    `strict` leaves out the answer's claims that the review did not find supported or partial."""
    builder = _Builder(ws, notes, Path(report_dir or ws.root), notes_error, strict, figures_beside)
    sections = builder.sections()
    text = "\n\n".join(block for _, block in sections) + "\n"
    return MarkdownReport(text, builder.index, builder.partial, builder.answer, builder.review, sections,
                          builder.copies)
