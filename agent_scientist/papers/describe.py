"""What a model that cannot see a figure is told of it: the worker's description of the image, or the paper's
sentences about it.

The worker (when it accepts images) describes a figure's PNG once (prompts/figure.yaml, output capped); the
description is cached beside the image as figure-N.description.json, tied to the image's hash, and always shown
as the worker's words, framed as untrusted text: the image is the paper's, the description a model's reading of it.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent_scientist.fsio import atomic_write_json, read_json
from agent_scientist.papers.visuals import nfkc
from agent_scientist.records import FigureRecord
from agent_scientist.untrusted import mark

VERSION = 1
WORDS = 150  # the description's length asked for
MAX_TOKENS = 400  # its output cap (at most worker_max_output_tokens)
MAX_CHARS = 2000  # the description kept
NEARBY_CHARS = 1200  # the paper's sentences about a figure, shown when no model sees it
MENTIONS = 3
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def image_path(folder: Path, figure: FigureRecord) -> Path | None:
    """The figure's PNG in the paper folder (named by the extraction, never by a model), or None."""
    name = figure.get("image")
    path = folder / str(name) if name else None
    return path if path is not None and path.parent == folder and path.is_file() else None


def description_path(folder: Path, number: int) -> Path:
    return folder / f"figure-{int(number)}.description.json"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached_description(folder: Path, figure: FigureRecord) -> dict | None:
    """The worker's recorded description of a figure, or None (none yet, or made from another image)."""
    image = image_path(folder, figure)
    try:
        data = read_json(description_path(folder, figure["number"]))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION or image is None:
        return None
    return data if data.get("image_sha256") == _sha(image) and str(data.get("text") or "").strip() else None


def describe(folder: Path, figure: FigureRecord, model: Any, max_tokens: int = MAX_TOKENS) -> dict:
    """The worker's description of a figure from its image: cached, else asked once and recorded; raises when
    the figure has no image or the call fails (nothing is recorded then)."""
    from agent_scientist.agent.models import ask_model
    from agent_scientist.prompting import load, render
    from agent_scientist.workspace import now_iso

    path = description_path(folder, figure["number"])
    with _locks_guard:
        lock = _locks.setdefault(path, threading.Lock())
    with lock:  # two reads of one figure at once ask once
        found = cached_description(folder, figure)
        if found is not None:
            return found
        image = image_path(folder, figure)
        if image is None:
            raise ValueError("the figure was not rendered to an image")
        spec = load("figure")
        user = render(spec["user"], caption=str(figure.get("caption") or "")[:1000],
                      text=str(figure.get("text") or "(none)")[:1000], words=WORDS)
        text = ask_model(model, spec["system"].strip(), user, min(max_tokens, MAX_TOKENS), [image])[0]
        text = " ".join(text.split())[:MAX_CHARS]
        if not text:
            raise ValueError("the worker's answer was empty")
        record = {"version": VERSION, "figure": int(figure["number"]), "text": text,
                  "model": str(getattr(model, "model_id", "") or ""), "image_sha256": _sha(image), "at": now_iso()}
        atomic_write_json(path, record)
        return record


def framed_description(record: Mapping[str, Any], label: str, number: int) -> str:
    """A recorded description as shown to a model: said to be the worker's words, framed as untrusted text."""
    by = f"the worker model {record['model']}" if record.get("model") else "the worker model"
    return (f"Description of the image by {by} (its reading of the image, not the paper's words; cite the paper "
            "for what its caption and text say):\n"
            + mark(str(record["text"]), f"{label} Figure {number} worker description"))


def worker_note(folder: Path, figure: FigureRecord, model: Any, label: str, max_tokens: int,
                pages: list[str]) -> str:
    """For a planner that cannot see images: the worker's description (asked once), or, when it fails, the
    paper's sentences about the figure."""
    try:
        record = describe(folder, figure, model, max_tokens)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a timeout, a refused image, an empty answer: the text stands in; asked again later
        why = " ".join(str(exc).split())[:160] or type(exc).__name__
        return (f"(The image is not shown to this model and the worker model could not describe it ({why}): "
                "caption and text only; the image file holds it.)" + nearby_text(pages, figure, label))
    return ("(The image is not shown to this model; the worker model looked at it for you.)\n"
            + framed_description(record, label, int(figure["number"])))


def text_only_note(pages: list[str], figure: FigureRecord, label: str) -> str:
    """When neither model accepts images: say so, with the paper's sentences about the figure."""
    return ("(Caption and text only: neither the planner nor the worker model is shown images here (settings "
            "vision, worker_vision); the image file holds it.)" + nearby_text(pages, figure, label))


def nearby_text(pages: list[str], figure: FigureRecord, label: str) -> str:
    """The paper's sentences that mention the figure ("Figure 3 shows ..."), else the text around its caption;
    framed, bounded; "" when there are none."""
    number = int(figure["number"])
    pattern = re.compile(rf"(?<![\w.])(?:Figure|Fig\.?)\s*{number}(?!\d)", re.IGNORECASE)
    caption = nfkc(str(figure.get("caption") or ""))[:40]
    found: list[str] = []
    for n, raw in enumerate(pages, start=1):
        text = nfkc(raw)
        for match in pattern.finditer(text):
            if caption and text.startswith(caption, match.start()):
                continue  # the caption itself is shown already
            found.append(f"p.{n}: {_sentence(text, match.start(), match.end())}")
            if len(found) >= MENTIONS:
                break
        if len(found) >= MENTIONS:
            break
    if not found:
        page = int(figure.get("caption_page") or figure.get("page") or 0)
        text = nfkc(pages[page - 1]) if 1 <= page <= len(pages) else ""
        at = text.find(caption) if caption else -1
        if at < 0:
            return ""
        room = NEARBY_CHARS // 2
        before = text[max(0, at - room):at].strip()
        after = text[at + len(nfkc(str(figure["caption"]))):][:room].strip()
        if not before and not after:
            return ""
        around = " … ".join(x for x in (before, after) if x)
        found = [f"p.{page}, around the caption: {around}"]
    shown = "\n".join(found)[:NEARBY_CHARS]
    return "\nThe paper's text about it:\n" + mark(shown, f"{label} Figure {number}")


def _sentence(text: str, start: int, end: int, room: int = 250) -> str:
    """The sentence holding text[start:end], at most `room` characters either side."""
    head = text[max(0, start - room):start]
    cut = max(head.rfind(". "), head.rfind("? "), head.rfind("! "))
    head = head[cut + 2:] if cut >= 0 else head
    tail = text[end:end + room]
    stop = min((i for i in (tail.find(". "), tail.find("? "), tail.find("! ")) if i >= 0), default=-1)
    tail = tail[:stop + 1] if stop >= 0 else tail
    return (head + text[start:end] + tail).strip()
