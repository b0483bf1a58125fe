"""How the report shows citations: numbered links for verified ones, removal markers for the others.

Parsing and verifying are below, in papers/citations.py (the grammar) and papers/citation_index.py.
"""

from __future__ import annotations

import re
from typing import Any

from agent_scientist.papers.citation_index import Occurrence

UNVERIFIED_ANCHOR = "unverified-citations"


def locator_text(pages: tuple[int, int] | list[int] | None, figure: int | None = None,
                 table: int | None = None, locator: str = "") -> str:
    """`, p.3`, `, pp.3-4, Fig. 2`, `, Table 1` or `, §2` after a reference number ("" when nothing is located)."""
    where = []
    if pages:
        first, last = int(pages[0]), int(pages[-1])
        where.append(f"p.{first}" if first == last else f"pp.{first}-{last}")
    if figure is not None:
        where.append(f"Fig. {figure}")
    if table is not None:
        where.append(f"Table {table}")
    if not where and locator:
        where.append(escape_inline(locator))
    return "".join(", " + w for w in where)


def render_occurrence(occ: Occurrence) -> str:
    """`[1, p.3](#ref-1)` for a verified citation, a visible removal marker for an unverified one."""
    if not occ.verified:
        return f"[citation removed: {occ.label}](#{UNVERIFIED_ANCHOR})"
    where = locator_text(occ.pages, occ.figure, occ.table, occ.locator)
    return f"[{occ.number}{where}](#ref-{occ.number})" + (" (RETRACTED)" if occ.retracted else "")


def render_group(occurrences: list[Occurrence]) -> str:
    """Several citations from one bracket: `[[1, p.3](#ref-1); [2](#ref-2)]`."""
    return "[" + "; ".join(render_occurrence(o) for o in occurrences) + "]"


_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>|#&!~])")


def escape_inline(text: Any) -> str:
    """Text from data (titles, notes, arguments) as inert one-line markdown."""
    return _INLINE_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
