"""What the report adds from the scholarly indexes: links of DOI/S2 papers, and "What you may have missed"
(papers that two or more cited papers reference, or highly cited among their citations, never read here),
drawn only from the graph pages already fetched (no network at export time)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent_scientist.papers import ids
from agent_scientist.records import PaperMeta
from agent_scientist.report.citations import escape_inline
from agent_scientist.workspace import Workspace

MISSED = 5


def life_science_links(paper: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(label, id shown, URL) for the paper's PubMed and PubMed Central records, from its id or its metadata."""
    pid = ids.parse(str(paper.get("id") or ""))
    pmid = ids.pmid_of(str(paper.get("pmid") or "")) or (pid.value if pid and pid.kind == "pmid" else "")
    pmcid = ids.pmcid_of(str(paper.get("pmcid") or "")) or (pid.value if pid and pid.kind == "pmcid" else "")
    links = []
    if pmid:
        links.append(("PubMed", f"PMID {pmid}", f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"))
    if pmcid:
        links.append(("PubMed Central", pmcid, f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/"))
    return links


def reference_links(paper: PaperMeta) -> list[str]:
    """DOI, Semantic Scholar and arXiv links of a paper read through an index, and whether it has pages."""
    parts = []
    if paper.get("doi"):
        parts.append(f"DOI [{escape_inline(paper['doi'])}](https://doi.org/{paper['doi']}).")
    if paper.get("s2_id") or ids.kind_of(str(paper["id"])) == "s2":
        s2 = paper.get("s2_id") or ids.parse(str(paper["id"])).value  # type: ignore[union-attr]  # an s2 id parses
        parts.append(f"[Semantic Scholar](https://www.semanticscholar.org/paper/{s2}).")
    if paper.get("arxiv_id"):
        parts.append(f"[arxiv.org/abs/{escape_inline(paper['arxiv_id'])}](https://arxiv.org/abs/{paper['arxiv_id']}).")
    parts += [f"{what} [{escape_inline(shown)}]({url})." for what, shown, url in life_science_links(paper)]
    if paper.get("full_text") is False:
        parts.append("(Abstract only: no full text was available.)")
    return parts


def may_have_missed(ws: Workspace, cited: list[PaperMeta], papers: list[PaperMeta],
                    limit: int = MISSED) -> list[dict[str, Any]]:
    """Up to `limit` papers, each with `why`: referenced by two or more cited papers first, then the most
    cited among the cited papers' citations; papers the workspace holds are left out."""
    from agent_scientist.papers.graph import fetched_graph

    have = {ids.match_key(a) for p in papers for a in ids.aliases(p)}
    cited_keys = {ids.match_key(a): p for p in cited for a in ids.aliases(p)}
    referenced: dict[str, tuple[dict, set[str]]] = {}
    citing: dict[str, dict] = {}
    for page in fetched_graph(ws):
        owner = cited_keys.get(ids.match_key(page["paper_id"]))
        if owner is None:
            continue
        for item in page["items"]:
            keys = {ids.match_key(item.get("id", ""))} | ({ids.match_key(f"doi:{item['doi']}")} if item.get("doi")
                                                          else set())
            if not item.get("id") or keys & have:
                continue
            key = ids.match_key(item["id"])
            if page["direction"] == "references":
                referenced.setdefault(key, (item, set()))[1].add(str(owner["id"]))
            elif page["direction"] == "citations":
                citing.setdefault(key, item)
    out = []
    for item, owners in sorted(referenced.values(), key=lambda v: (-len(v[1]), -(v[0].get("citation_count") or 0),
                                                                   v[0]["id"])):
        if len(owners) >= 2:
            labels = ", ".join(ids.citation_label(o) for o in sorted(owners))
            out.append({**item, "why": f"referenced by {len(owners)} cited papers ({labels})"})
    seen = {ids.match_key(i["id"]) for i in out}
    for item in sorted(citing.values(), key=lambda i: (-(i.get("citation_count") or 0), i["id"])):
        if ids.match_key(item["id"]) not in seen and (item.get("citation_count") or 0) > 0:
            out.append({**item, "why": f"cites a cited paper and is itself cited {item['citation_count']} times"})
    return out[:limit]
