"""The paper sources, one line each: adding a source is its module (with a `SOURCE`) and one line here.

This module imports nothing, so `config` checks `paper_sources` against it at load without loading any
source; `get` imports a source's module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent_scientist.papers.sources.base import Source

REGISTRY: dict[str, str] = {  # name in paper_sources -> the module whose SOURCE serves it
    "arxiv": "agent_scientist.papers.sources.arxiv",
    "semantic_scholar": "agent_scientist.papers.sources.semantic_scholar",
    "openalex": "agent_scientist.papers.sources.openalex",
    "europepmc": "agent_scientist.papers.sources.europepmc",
    "pubmed": "agent_scientist.papers.sources.pubmed",
    "crossref": "agent_scientist.papers.sources.crossref",
}
ALIASES = {"s2": "semantic_scholar", "semanticscholar": "semantic_scholar", "europe_pmc": "europepmc"}


def names() -> tuple[str, ...]:
    """Every registered source's name, in registry order."""
    return tuple(REGISTRY)


def parse_names(text: str) -> list[str]:
    """The sources named in a comma-separated list, normalised and de-duplicated; ValueError names the bad ones."""
    given = [n.strip().lower().replace("-", "_").replace(" ", "_") for n in str(text).split(",") if n.strip()]
    given = [ALIASES.get(n, n) for n in given]
    bad = [n for n in given if n not in REGISTRY]
    if bad or not given:
        raise ValueError(f"{', '.join(bad) or 'nothing'} is not a paper source: use {', '.join(names())}")
    return list(dict.fromkeys(given))


def get(name: str) -> Source:
    """The source registered under `name` (KeyError when none is)."""
    source: Source = importlib.import_module(REGISTRY[name]).SOURCE
    return source


def sources(chosen: list[str] | None = None) -> list[Source]:
    """The chosen sources (all registered ones by default), in order."""
    return [get(n) for n in (chosen if chosen is not None else names())]
