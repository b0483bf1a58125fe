"""Question sets: LitQA2-style multiple choice and open questions, one JSON object a line.

Multiple choice (as in the public LitQA2 file): `id`, `question`, `ideal`, `distractors`, optional
`sources`, `key-passage`. Open: `id`, `question`, optional `answer`, `sources`. The options are the
ideal, the distractors and INSUFFICIENT, shuffled by a seed derived from `--seed` and the question id.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_scientist.records import QuestionRecord

INSUFFICIENT = "Insufficient information to answer this question"
LETTERS = string.ascii_uppercase
_SAFE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
# Files of the eval's own folder, which a question's workspace folder must not shadow.
RESERVED = {"eval.json", "results.jsonl", "summary.json", "summary.md", "questions.jsonl"}
_ANSWER_LINE_RE = re.compile(r"answer\s*[:：]\s*[*_`]*\s*\(\s*([A-Z])\s*\)", re.I)
_LONE_RE = re.compile(r"^[\s*_`>]*\(\s*([A-Z])\s*\)[\s*_`.]*$")


class QuestionError(ValueError):
    """The question file cannot be used as written; the message says which line and why."""


@dataclass
class Question:
    id: str
    question: str
    kind: str  # "mc" or "open"
    ideal: str = ""
    distractors: list[str] = field(default_factory=list)
    answer: str = ""  # the reference text of an open question
    sources: list[str] = field(default_factory=list)
    key_passage: str = ""

    def as_dict(self) -> QuestionRecord:
        return {"id": self.id, "question": self.question, "kind": self.kind, "ideal": self.ideal,
                "distractors": self.distractors, "answer": self.answer, "sources": self.sources,
                "key_passage": self.key_passage}

    @classmethod
    def from_dict(cls, data: QuestionRecord) -> Question:
        """The question as_dict wrote (eval-spec.json): already checked by parse_question when it was loaded."""
        return cls(data["id"], data["question"], data["kind"], ideal=data.get("ideal", ""),
                   distractors=list(data.get("distractors", [])), answer=data.get("answer", ""),
                   sources=list(data.get("sources", [])), key_passage=data.get("key_passage", ""))


def _strings(value: Any, what: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QuestionError(f"{where}: `{what}` must be a list of strings.")
    return [v.strip() for v in value if v.strip()]


def _text(value: Any, what: str, where: str) -> str:
    """A scalar field as text (a number is taken as written); an object, a list or true/false is refused."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QuestionError(f"{where}: `{what}` must be a string, not {type(value).__name__}.")
    return str(value)


def parse_question(data: Any, where: str) -> Question:
    """One question from its JSON object; multiple choice when it has `ideal` and `distractors`."""
    if not isinstance(data, dict):
        raise QuestionError(f"{where}: expected a JSON object.")
    qid = _text(data.get("id"), "id", where).strip()
    text = _text(data.get("question"), "question", where).strip()
    if not qid or not text:
        raise QuestionError(f"{where}: every question needs a non-empty `id` and `question`.")
    sources = _strings(data.get("sources"), "sources", where)
    passage_key = "key-passage" if data.get("key-passage") else "key_passage"
    key_passage = _text(data.get(passage_key), passage_key, where)
    if "ideal" in data or "distractors" in data:
        ideal = _text(data.get("ideal"), "ideal", where).strip()
        distractors = _strings(data.get("distractors"), "distractors", where)
        if not ideal or not distractors:
            raise QuestionError(f"{where}: a multiple-choice question needs `ideal` and at least one distractor.")
        if len(distractors) + 2 > len(LETTERS):
            raise QuestionError(f"{where}: at most {len(LETTERS) - 2} distractors.")
        return Question(qid, text, "mc", ideal=ideal, distractors=distractors, sources=sources,
                        key_passage=key_passage)
    return Question(qid, text, "open", answer=_text(data.get("answer"), "answer", where).strip(), sources=sources,
                    key_passage=key_passage)


def load_questions(path: Path) -> list[Question]:
    """Every question in the file, in order; a bad line or a repeated id is an error naming the line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionError(f"{path}: cannot read the question file ({exc}).") from None
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionError(f"{where}: not valid JSON ({exc.msg}).") from None
        q = parse_question(data, where)
        if q.id in seen:
            raise QuestionError(f"{where}: id {q.id!r} repeats line {seen[q.id]}; ids must be unique.")
        seen[q.id] = number
        questions.append(q)
    if not questions:
        raise QuestionError(f"{path}: no questions in the file.")
    return questions


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def options(q: Question, seed: int) -> list[str]:
    """The options in their shown order: stable for (seed, id), different between questions."""
    if q.kind != "mc":
        return []
    items = [q.ideal, *q.distractors, INSUFFICIENT]
    digest = hashlib.sha256(f"{seed}\x00{q.id}".encode()).digest()
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(items)
    return items


def task_text(q: Question, opts: list[str], closed_corpus: bool = False) -> str:
    """The research task the planner receives for one question."""
    parts = [q.question]
    if opts:
        parts.append("Options:\n" + "\n".join(f"({LETTERS[i]}) {text}" for i, text in enumerate(opts)))
        parts.append("Choose exactly one option. Choose \"" + INSUFFICIENT + "\" if the papers do not settle "
                     "it. Cite the papers you relied on, and end your final answer with a line `Answer: (X)` "
                     "where X is the letter of your choice.")
    if closed_corpus:
        parts.append("Use only the papers already in this workspace (search_papers lists them; read_paper "
                     "reads them); do not search arXiv.")
    return "\n\n".join(parts)


def read_choice(answer: str | None, count: int) -> int | None:
    """The chosen option's index read mechanically: the last `Answer: (X)`, or a lone `(X)` last line."""
    if not answer or count <= 0:
        return None
    found = _ANSWER_LINE_RE.findall(answer)
    letter = found[-1].upper() if found else None
    if letter is None:
        lines = [line for line in answer.strip().splitlines() if line.strip()]
        lone = _LONE_RE.match(lines[-1]) if lines else None
        letter = lone.group(1).upper() if lone else None
    if letter is None or LETTERS.index(letter) >= count:
        return None
    return LETTERS.index(letter)


def workspace_id(qid: str) -> str:
    """A folder name for a question id: the id itself when it is a valid workspace name, else slug+hash."""
    if _SAFE_ID_RE.match(qid) and qid.lower() not in RESERVED:
        return qid
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", qid).strip("-._")[:60] or "q"
    return f"{slug}-{hashlib.sha256(qid.encode()).hexdigest()[:8]}"
