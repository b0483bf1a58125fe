"""Staying current without the planner: re-run every search the workspace recorded (papers/.search/, each
answer kept with its params), restricted to papers newer than the last update, and ask the indexes again
whether a paper of the workspace is now retracted or linked to a new correction notice. No model call. Each update is appended to
papers/.updates.json, which the report's "What changed since DATE" section renders (reading it imports
no HTTP client: the sources are imported by the functions that ask them).
"""

from __future__ import annotations

from typing import Any

from agent_scientist.config import Settings
from agent_scientist.fsio import atomic_write_json, read_json
from agent_scientist.papers import ids
from agent_scientist.workspace import Workspace, now_iso

UPDATES = ".updates.json"
PER_SEARCH = 10
ID_FIELDS = ("doi", "pmid", "pmcid")  # the ids the life-science indexes answer for


def updates(ws: Workspace) -> list[dict]:
    """Every update recorded, oldest first ([] when none)."""
    try:
        data = read_json(ws.papers_dir / UPDATES)
    except (OSError, ValueError):
        return []
    return list(data.get("updates") or []) if isinstance(data, dict) else []


def recorded_searches(ws: Workspace) -> list[tuple[str, str, str]]:
    """(source, query, fetched_at) of every search answer cached, one per source and query, in first-seen order."""
    folder = ws.papers_dir / ".search"
    seen: dict[tuple[str, str], str] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = read_json(path)
            params = data["params"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        name = str(params.get("source") or ("arxiv" if "search_query" in params else ""))
        text = str(params.get("q") or params.get("search_query") or "").strip()
        if name and text:
            key = (name, text)
            seen[key] = max(seen.get(key, ""), str(data.get("fetched_at") or ""))
    return [(n, q, at) for (n, q), at in seen.items()]


def _known(ws: Workspace) -> set[str]:
    """Comparison keys of every paper the workspace has read or seen in a search answer."""
    out = {ids.match_key(a) for m in ws.papers() for a in ids.aliases(dict(m))}
    folder = ws.papers_dir / ".search"
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            entries = read_json(path).get("entries") or []
        except (OSError, ValueError, AttributeError):
            continue
        out |= {ids.match_key(str(e.get(k) or "")) for e in entries for k in ("id", "doi", "arxiv_id", "pmcid")
                if e.get(k)}
        out |= {ids.match_key(f"doi:{e['doi']}") for e in entries if e.get("doi")}
    out |= {ids.match_key(str(w.get("id") or "")) for u in updates(ws) for s in u.get("searches") or []
            for w in s.get("new") or []}  # told once is enough
    return out - {""}


def _keys(work: dict) -> set[str]:
    out = {ids.match_key(str(work.get("id") or ""))}
    if work.get("doi"):
        out.add(ids.match_key(f"doi:{work['doi']}"))
    if work.get("pmcid"):
        out.add(ids.match_key(f"pmcid:{work['pmcid']}"))
    if work.get("arxiv_id"):
        out.add(ids.match_key(str(work["arxiv_id"])))
    return out - {""}


def since_date(ws: Workspace) -> str:
    """YYYY-MM-DD of the last update, else of the newest search answer, else of the workspace's creation."""
    done = updates(ws)
    if done:
        return str(done[-1]["at"])[:10]
    fetched = [at for _n, _q, at in recorded_searches(ws) if at]
    return (max(fetched) if fetched else str(ws.meta.get("created_at") or now_iso()))[:10]


def run_update(ws: Workspace, settings: Settings) -> dict:
    """Re-run the recorded searches for papers since the last update and check the workspace's papers for
    retractions and new notices; the update is recorded and returned: {at, since, searches: [{source, query, new, error}], flags}."""
    from agent_scientist.papers.fetch import FetchError
    from agent_scientist.papers.search import source_names
    from agent_scientist.papers.sources import registry
    from agent_scientist.papers.sources.base import Query

    since = since_date(ws)
    known = _known(ws)
    searches: list[dict[str, Any]] = []
    for name, text, _at in recorded_searches(ws):
        entry: dict[str, Any] = {"source": name, "query": text, "new": [], "error": ""}
        if name not in registry.REGISTRY:
            entry["error"] = f"{name} is no longer a paper source"
        else:
            source = registry.get(name)
            try:
                found, _total = source.search(settings, Query(text, PER_SEARCH, start_date=since))
                for work in source.works(found):
                    keys = _keys(work)
                    if keys and not keys & known and str(work.get("published") or work.get("year") or "") >= since[:4]:
                        known |= keys
                        entry["new"].append({k: work.get(k) for k in ("id", "title", "year", "published")})
            except FetchError as exc:
                entry["error"] = str(exc)[:200]
        searches.append(entry)
    flags = _flags(ws, settings, [n for n in source_names(settings.paper_sources)
                                        if registry.get(n).resolves])
    record = {"at": now_iso(), "since": since, "searches": searches, "flags": flags}
    atomic_write_json(ws.papers_dir / UPDATES, {"updates": [*updates(ws), record]})
    return record


def _flags(ws: Workspace, settings: Settings, names: list[str]) -> list[dict]:
    """Papers of the workspace an index now marks retracted, or links to a notice (correction, retraction,
    expression of concern) not recorded on the paper before; both are recorded on its meta.json too."""
    from agent_scientist.papers.fetch import FetchError
    from agent_scientist.papers.sources import registry
    from agent_scientist.papers.store import annotate

    flags = []
    for meta in ws.papers():
        if meta.get("retracted") or not (any(meta.get(k) for k in ID_FIELDS)
                                         or ids.kind_of(meta["id"]) in ID_FIELDS):
            continue
        known = {k: str(meta.get(k)) for k in ID_FIELDS if meta.get(k)}
        notices = list(meta.get("notices") or [])  # as recorded before this update
        for source in registry.sources(names):
            try:
                work = source.work(settings, str(meta["id"]), known)
            except FetchError:
                continue
            if not work:
                continue
            fresh = [n for n in work.get("notices") or [] if n not in notices and not n.startswith("this is a")]
            notices += fresh
            meta = annotate(ws, meta, {"retracted": bool(work.get("retracted")), "notices": fresh})
            said = {"title": meta.get("title") or "", "id": meta["id"]}
            if work.get("retracted"):
                flags.append({**said, "flag": f"retracted (per {source.title})"})
                break
            flags += [{**said, "flag": f"linked to a notice: {n} (per {source.title})"} for n in fresh]
    return flags


def new_papers_task(record: dict) -> str:
    """The planner's task after `resume --update`: the new papers, to read and weigh against the answer."""
    lines = [f"New since {record['since']} (from `update`): read the ones that bear on the question, then revise "
             "the answer, citing pages."]
    for s in record["searches"]:
        lines += [f"- {w['id']}: {w.get('title') or ''} ({w.get('year') or ''}) [search {s['source']}: {s['query']}]"
                  for w in s["new"]]
    lines += [f"- {f['id']} is now {f['flag']}: stop relying on it." for f in record["flags"]]
    return "\n".join(lines)
