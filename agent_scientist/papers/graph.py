"""The citation graph: what a paper cites, who cites it (and in which sentences), related papers.

Answers come from the first source with a graph (Semantic Scholar) and are cached per page in papers/.graph/, so a resume, an export (the
report's "What you may have missed") or an offline machine reuse what was fetched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_scientist.config import Settings
from agent_scientist.contracts import ToolError
from agent_scientist.fsio import atomic_write_json, read_json
from agent_scientist.papers import ids
from agent_scientist.papers.store import find_paper, parse_paper_id, search_cache_path
from agent_scientist.workspace import Workspace, now_iso

if TYPE_CHECKING:
    from agent_scientist.papers.sources.base import Source

DIRECTIONS = ("references", "citations", "related")
MAX_LIMIT = 100
TITLE_CHARS = 200


def _whole(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ToolError(f"{name}={value!r} is not a whole number, e.g. {name}=20.") from None


def graph_ids(ws: Workspace, paper_id: str) -> str:
    """The id to ask Semantic Scholar for: a workspace paper's DOI or arXiv id when it has one."""
    pid = parse_paper_id(paper_id)
    meta = find_paper(ws, pid)
    if ids.kind_of(pid) == "local":
        known = [a for a in ids.aliases(meta or {}) if ids.kind_of(a) != "local"]
        if not known:
            raise ToolError(f"{pid} is your own PDF with no DOI or arXiv id, so no index knows its citations; "
                            "search_papers with its title finds the published version.")
        return known[0]
    return pid


def graph_source() -> Source:
    """The first registered source with a citation graph."""
    from agent_scientist.papers.sources import registry

    return next(s for s in registry.sources() if s.has_graph)


def paper_graph(ws: Workspace, settings: Settings, paper_id: str, direction: str = "references", limit: int = 20,
                offset: int = 0) -> list[dict]:
    """One page of the graph around a paper, each item bounded; the last item says how to page."""
    from agent_scientist.papers.fetch import FetchError
    from agent_scientist.papers.search import _failure

    source = graph_source()
    direction = str(direction or "references").strip().lower()
    if direction not in DIRECTIONS:
        raise ToolError(f"direction={direction!r} is unknown: use 'references' (what it cites), 'citations' "
                        "(who cites it) or 'related'.")
    limit = max(1, min(_whole(limit or 20, "limit"), MAX_LIMIT))
    offset = max(0, _whole(offset or 0, "offset"))
    pid = graph_ids(ws, paper_id)
    params = {"api": source.url(settings), "paper": ids.match_key(pid), "direction": direction,
              "offset": offset, "limit": limit}
    cache = search_cache_path(ws, params, ".graph")
    try:
        cached = read_json(cache)
        items, nxt = cached["items"], cached.get("next")
    except (OSError, ValueError, KeyError, TypeError):
        try:
            items, nxt = source.graph(settings, pid, direction, limit, offset)
        except FetchError as exc:
            fix = _failure(source, exc)["fix"]
            raise ToolError(f"paper_graph needs {source.title}, which failed: {exc} ({fix}). Pages fetched "
                            "before stay available.") from None
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        atomic_write_json(cache, {"params": {**params, "paper_id": ids.parse(pid).stored},  # type: ignore[union-attr]  # pid was parsed
                                  "items": items, "next": nxt, "fetched_at": now_iso()})
    have: set[str] = set()
    for meta in ws.papers():
        have.update(ids.match_key(a) for a in ids.aliases(meta))
    out = [_item(w, direction, bool(have & {ids.match_key(w["id"]), ids.match_key(f"doi:{w.get('doi')}")}))
           for w in items]
    if not out:
        raise ToolError(f"No {direction} of {ids.citation_label(pid)} known to {source.title}"
                        + (f" after offset {offset}." if offset else "."))
    span = f"{direction} {offset + 1}-{offset + len(out)} of {ids.citation_label(pid)}"
    out[-1]["more"] = (f"{span}; next page: paper_graph('{pid}', direction='{direction}', offset={nxt})"
                       if nxt else f"{span}; no more.")
    return out


def _item(work: dict, direction: str, in_workspace: bool) -> dict:
    item = {"id": work["id"], "title": str(work.get("title") or "")[:TITLE_CHARS], "year": work.get("year"),
            "venue": work.get("venue") or "", "citation_count": work.get("citation_count"),
            "open_access": bool(work.get("open_access")), "in_workspace": in_workspace}
    if direction == "citations":
        item["contexts"] = list(work.get("contexts") or [])[:2]
        item["influential"] = bool(work.get("influential"))
    return item


def fetched_graph(ws: Workspace) -> list[dict]:
    """Every graph page fetched in this workspace: {"paper_id", "direction", "items"} (for the report)."""
    folder = ws.papers_dir / ".graph"
    pages = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = read_json(path)
            pages.append({"paper_id": data["params"]["paper_id"], "direction": data["params"]["direction"],
                          "items": list(data.get("items") or [])})
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return pages
