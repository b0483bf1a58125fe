"""The model's final answer as inert markdown with verified, numbered citations.

The answer keeps its formatting (paragraphs, lists, emphasis, tables, code) but nothing in it can act:
raw HTML is escaped, links and images pointing outside the workspace are shown as text, brackets
that are not ours are escaped (so no link or reference definition forms), bare URLs become code,
headings are nested under the report's own, an unclosed code fence is closed, and huge tables or
answers are cut with a note. Citations are verified and rendered here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote, unquote

from agent_scientist.papers import ids
from agent_scientist.papers.citation_index import CitationIndex, Occurrence
from agent_scientist.papers.citations import PROSE_PATTERN, bracket_kind, parse_part, split_group
from agent_scientist.report.citations import render_group

FOREIGN_REASON = "not a workspace paper: cite papers as arXiv:ID or local:ID after reading them"
MAX_ANSWER_CHARS = 60_000
MAX_TABLE_ROWS = 50
MAX_TABLE_COLUMNS = 20
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING_RE = re.compile(r"^( {0,3})(#{1,6})(?=\s|$)")
_ANSWER_HEADING_RE = re.compile(r"^ {0,3}#{1,6}\s+(?:final\s+)?answer\s*:?\s*#*\s*$", re.I)
_TABLE_DELIM_RE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_CODE_SPAN_RE = re.compile(r"(?<![\\`])(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_URL = r"(?:https?://|www\.)[^\s<>()\[\]`]+"
_INLINE_RE = re.compile(
    r"(?P<link>(?P<bang>!?)\[(?P<text>[^\[\]\n]*)\]\(\s*"
    r"(?:<(?P<spaced>[^<>\n]*)>|(?P<target>(?:[^()\s<>]|\([^()\s<>]*\))*))(?:\s+\"[^\"\n]*\")?\s*\))"
    # not CommonMark, but models write it: a target with spaces, kept only if it names a workspace file
    r"|(?P<loose>(?P<lbang>!?)\[(?P<ltext>[^\[\]\n]*)\]\((?P<ltarget>[^()<>\n\"]+)\))"
    r"|(?P<bracket>\[(?P<content>[^\[\]\n]+)\](?!\())"
    # an id cited in prose (papers/citations.py), with the locators after it, so they are verified too
    rf"|(?P<bare>{PROSE_PATTERN})"
    rf"|(?P<url>{_URL})"
    r"|(?P<close>\](?=[(\[]))"
    r"|(?P<lt><)",
    re.I,
)


def code_span(text: str) -> str:
    """`text` as an inline code span whatever backticks it contains (shown literally, never active)."""
    text = " ".join(str(text).split())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


class AnswerRenderer:
    """Renders one piece of model-written markdown, recording its citations in a CitationIndex."""

    def __init__(self, index: CitationIndex, files_dir: Path, report_dir: Path, location: str = "answer"):
        self.index = index
        self.files_dir = Path(files_dir)
        self.report_dir = Path(report_dir)
        self.location = location
        self.heading_shift = 2  # set per text by render(): its top heading becomes ###

    # -- whole text --------------------------------------------------------
    def render(self, text: str) -> str:
        """The answer as safe markdown (no trailing newline)."""
        text = _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
        notes = []
        if len(text) > MAX_ANSWER_CHARS:
            notes.append(f"*(answer cut at {MAX_ANSWER_CHARS:,} of {len(text):,} characters; "
                         "the full text is in steps.jsonl)*")
            text = text[:MAX_ANSWER_CHARS]
        out: list[str] = []
        lines = _drop_answer_heading(text.split("\n"))
        self.heading_shift = _heading_shift(lines)
        fence: str | None = None
        i = 0
        while i < len(lines):
            line = lines[i]
            if fence is not None:
                out.append(line)
                if re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", line):
                    fence = None
                i += 1
                continue
            opened = _FENCE_RE.match(line)
            if opened:
                fence = opened.group(1)
                out.append(line)
                i += 1
                continue
            if i + 1 < len(lines) and "|" in line and _TABLE_DELIM_RE.match(lines[i + 1]) \
                    and "-" in lines[i + 1]:
                i = self._table(lines, i, out)
                continue
            out.append(self._line(line))
            i += 1
        if fence is not None:
            out.append(fence)  # an unclosed fence would swallow the rest of the report
        body = "\n".join(out).strip("\n")
        return "\n\n".join([body, *notes]) if notes else body

    def render_line(self, text: str, limit: int = 2000) -> str:
        """One line of model text for a list item (a note): inline markup only, no blocks, no fences."""
        text = " ".join(_CONTROL_RE.sub("", text).split())
        if len(text) > limit:
            text = text[:limit] + "…"
        return self._spans(text)

    def _table(self, lines: list[str], start: int, out: list[str]) -> int:
        """Copy a table, cutting rows and columns past the limits; returns the next line index."""
        end = start + 2
        while end < len(lines) and lines[end].strip() and "|" in lines[end]:
            end += 1
        rows = lines[start:end]
        too_wide = any(len(_cells(r)) > MAX_TABLE_COLUMNS for r in rows)
        body_rows = rows[2:]
        kept = rows[:2] + body_rows[:MAX_TABLE_ROWS]
        for row in kept:
            if too_wide:
                row = "| " + " | ".join(_cells(row)[:MAX_TABLE_COLUMNS]) + " |"
            out.append(self._line(row))
        cut = []
        if len(body_rows) > MAX_TABLE_ROWS:
            cut.append(f"{len(body_rows) - MAX_TABLE_ROWS:,} more rows")
        if too_wide:
            cut.append(f"columns past the first {MAX_TABLE_COLUMNS}")
        if cut:
            out.extend(["", f"*(table cut: {' and '.join(cut)} omitted; the full answer is in steps.jsonl)*"])
            if end < len(lines) and lines[end].strip():
                out.append("")
        return end

    # -- one line ----------------------------------------------------------
    def _line(self, line: str) -> str:
        line = _HEADING_RE.sub(lambda m: m.group(1) + "#" * min(6, len(m.group(2)) + self.heading_shift), line)
        return self._spans(line)

    def _spans(self, line: str) -> str:
        """Inline processing outside code spans; code spans are kept as written."""
        parts: list[str] = []
        pos = 0
        for m in _CODE_SPAN_RE.finditer(line):
            parts.append(self._inline(line[pos:m.start()]))
            parts.append(m.group(0))
            pos = m.end()
        parts.append(self._inline(line[pos:]))
        return "".join(parts)

    def _inline(self, text: str) -> str:
        return _INLINE_RE.sub(self._replace, text)

    def _replace(self, m: re.Match) -> str:
        if m.group("link"):
            target = m.group("spaced") if m.group("spaced") is not None else m.group("target")
            return self._link(m.group("bang"), m.group("text"), target.strip())
        if m.group("loose"):
            bang, text, target = m.group("lbang"), m.group("ltext"), m.group("ltarget")
            if self._workspace_file(target.strip()) is not None:
                return self._link(bang, text, target.strip())
            return bang + "[" + self._inline(text) + "\\]" + self._inline("(" + target + ")")
        if m.group("bracket"):
            return self._bracket(m.group("content"))
        if m.group("url"):
            url = m.group("url").rstrip(".,;:!?'\"")
            tail = m.group("url")[len(url):]
            if ids.parse(url):
                return self._cite_one(url) + tail
            return code_span(url) + tail
        if m.group("bare"):
            return self._cite_one(m.group("bare"))
        if m.group("close"):
            return "\\]"
        return "&lt;"

    def _cite_one(self, raw: str) -> str:
        return render_group([self.index.cite(parse_part(raw), raw, self.location)])

    def _bracket(self, content: str) -> str:
        parts = split_group(content)
        kinds = [bracket_kind(p) for p in parts]
        if not any(kinds):
            return "\\[" + self._inline(content) + "\\]"
        occs = []
        for part, kind in zip(parts, kinds, strict=True):
            raw = part.strip()
            if kind == "foreign":
                occs.append(self.index.reject(raw, self.location, FOREIGN_REASON))
            else:
                occs.append(self.index.cite(parse_part(raw), raw, self.location))
        return render_group(occs)

    def _link(self, bang: str, text: str, target: str) -> str:
        before = len(self.index.occurrences)
        label = self._inline(text) if text.strip() else ""
        cited: list[Occurrence] = self.index.occurrences[before:]
        if ids.parse(target):
            occ = self.index.cite(parse_part(target), target, self.location)
            if any(o.paper_id and o.paper_id == occ.paper_id for o in cited):
                self.index.occurrences.pop()
                return label
            return (label + " " if label else "") + render_group([occ])
        local = self._workspace_file(target)
        if local is not None:
            if bang and local.lower().endswith(IMAGE_SUFFIXES):
                return f"![{label}]({local})"
            return f"[{label or code_span(target)}]({local})"
        shown = code_span(target) if target else "``(empty)``"
        if bang:
            return f"*(image removed: {label or 'no description'}, {shown})*"
        return f"{label} *(link removed: {shown})*" if label else f"*(link removed: {shown})*"

    def _workspace_file(self, target: str) -> str | None:
        """A link target naming an existing file inside the workspace's files/, as a path from the report."""
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith(("/", "#", "\\")):
            return None
        found = relative_file_link(self.files_dir, target, self.report_dir)
        if found is None and "%" in target:  # a path written URL-encoded, e.g. figs/ece%20curve.png
            found = relative_file_link(self.files_dir, unquote(target), self.report_dir)
        return found


def _outside_fences(lines: list[str]) -> list[tuple[int, str]]:
    """(index, line) of the lines that are not inside a fenced code block."""
    kept, fence = [], None
    for i, line in enumerate(lines):
        if fence is not None:
            if re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", line):
                fence = None
            continue
        opened = _FENCE_RE.match(line)
        if opened:
            fence = opened.group(1)
            continue
        kept.append((i, line))
    return kept


def _heading_shift(lines: list[str]) -> int:
    """How far to push the answer's headings so its top level sits right under the report's `## Answer`."""
    levels = [len(m.group(2)) for _, line in _outside_fences(lines) if (m := _HEADING_RE.match(line))]
    return max(0, 3 - min(levels)) if levels else 2


def _drop_answer_heading(lines: list[str]) -> list[str]:
    """Without a leading "## Answer" heading: the report already puts the answer under one."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and _ANSWER_HEADING_RE.match(lines[first]):
        return lines[first + 1:]
    return lines


def _cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)]


def relative_file_link(files_dir: Path, relpath: str, report_dir: Path) -> str | None:
    """URL-quoted path from the report's folder to files/RELPATH, or None if it leaves files/ or is missing."""
    base = Path(os.path.realpath(files_dir))
    target = Path(os.path.realpath(base / relpath.removeprefix("files/")))
    if base not in target.parents or not target.is_file():
        return None
    return quote(os.path.relpath(target, os.path.realpath(report_dir)).replace(os.sep, "/"), safe="/._-~")


def render_answer(text: str, index: CitationIndex, files_dir: Path, report_dir: Path,
                  location: str = "answer") -> str:
    """Convenience: render one piece of model-written markdown."""
    return AnswerRenderer(index, files_dir, report_dir, location).render(text)

