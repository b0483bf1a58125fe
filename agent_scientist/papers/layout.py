"""The paper folders of a workspace: `papers/<folder>/` per paper id (meta.json, pages.json, paper.pdf).

Folder names are those the first landing wrote (tests/data/landing1 keeps loading): the stored id with
every character outside `[A-Za-z0-9._-]` made `_`; a DOI, which may be long and differ from another only in
such characters, gets the first 80 of them and 8 hex digits of its sha256.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from agent_scientist.fsio import read_json
from agent_scientist.papers import ids
from agent_scientist.records import PageTexts
from agent_scientist.workspace import Workspace


def folder_name(paper_id: str) -> str:
    """The folder name of a paper under papers/."""
    pid = ids.parse(paper_id)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", pid.stored if pid else str(paper_id))
    if pid is None or pid.kind != "doi":
        return safe
    digest = hashlib.sha256(pid.value.encode()).hexdigest()[:8]
    return f"{safe[:80]}-{digest}"


def paper_dir(ws: Workspace, paper_id: str) -> Path:
    """The folder of a paper in a workspace (it may not exist yet)."""
    return ws.papers_dir / folder_name(paper_id)


def holds(papers_dir: Path, paper_id: str) -> bool:
    """Whether a papers/ folder holds this id: exactly, or any version of an arXiv id given without one."""
    pid = ids.parse(paper_id)
    name = folder_name(paper_id)
    if (papers_dir / name / "meta.json").is_file():
        return True
    return bool(pid and pid.kind == "arxiv" and not pid.version and any(papers_dir.glob(f"{name}v*/meta.json")))


def read_pages(folder: Path) -> PageTexts:
    """A paper folder's pages.json (papers.store.store_paper wrote it). Raises OSError when it cannot be read,
    ValueError when it is not JSON or not an object with a list of pages."""
    data = read_json(folder / "pages.json")
    if not isinstance(data, dict) or not isinstance(data.get("pages"), list):
        raise ValueError("pages.json is not an object with a list of pages")
    return cast(PageTexts, data)  # JSON from disk, its shape checked above


def page_count(folder_of: Callable[[str], Path], meta: Mapping[str, Any]) -> int:
    """Pages of a cached paper: meta "pages", else pages.json (meta written before extraction), else 0."""
    n = int(meta.get("pages") or 0)
    if not n:
        try:
            n = len(read_pages(folder_of(str(meta.get("id")))).get("pages") or [])
        except (OSError, ValueError):
            n = 0
    return n
