"""A paper source added the way the registry says (this module and one line in REGISTRY): an arXiv mirror
reached at `arxiv_api_url`, so the arXiv loopback server answers it."""

from __future__ import annotations

from agent_scientist.papers.sources.arxiv import ArxivSource, arxiv_work


class MirrorSource(ArxivSource):
    name = "mirror"
    title = "arXiv mirror"

    def works(self, entries: list[dict]) -> list[dict]:
        return [{**work, "sources": [self.name]} for work in map(arxiv_work, entries)]

    def rate_limit_fix(self) -> str:
        return "the mirror asks for pauses"


SOURCE = MirrorSource()
