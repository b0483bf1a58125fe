"""The report as HTML: markdown-it renders report/'s markdown; each citation link then points at its cited page,
each verdict marker carries its claim's evidence, relative file links go through the app. Raw HTML from the
markdown is dropped except the report's own anchors (`<a id="ref-1"></a>`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from markdown_it import MarkdownIt

from agent_scientist.papers.citations import parse_locators
from agent_scientist.records import ReviewClaim

_ANCHOR_RE = re.compile(r'^<a id="([\w-]+)"></a>$')
_OPEN_RE = re.compile(r'^<a id="([\w-]+)">$')  # inline, markdown-it gives the open and the close tag apart
_REF_RE = re.compile(r"^#ref-(\d+)$")
_CLAIM_RE = re.compile(r"^#claim-(\d+)$")
_NUMBER_RE = re.compile(r"^\s*\d+\s*,?\s*")  # a citation link's text: "1, p.2, Fig. 3" -> its locators


def url(route: str, /, **params: Any) -> str:
    """An app URL with its query (values None or "" left out)."""
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    return f"{route}?{query}" if query else route


def _safe_html(md: MarkdownIt) -> None:
    """html_inline / html_block: only the report's anchors survive, anything else is shown as text."""
    from markdown_it.common.utils import escapeHtml

    def inline(renderer: Any, tokens: list, idx: int, options: Any, env: Any) -> str:
        content = tokens[idx].content.strip()
        m = _ANCHOR_RE.match(content) or _OPEN_RE.match(content)
        after = tokens[idx + 1].content.strip() if idx + 1 < len(tokens) and tokens[idx + 1].type == "html_inline" else ""
        before = tokens[idx - 1].content.strip() if idx > 0 and tokens[idx - 1].type == "html_inline" else ""
        if m and (content.endswith("</a>") or after == "</a>"):
            return f'<a id="{m.group(1)}"></a>'
        if content == "</a>" and _OPEN_RE.match(before):
            return ""
        return escapeHtml(tokens[idx].content)

    def block(renderer: Any, tokens: list, idx: int, options: Any, env: Any) -> str:
        lines = [line.strip() for line in tokens[idx].content.splitlines() if line.strip()]
        if lines and all(_ANCHOR_RE.match(line) for line in lines):
            return "".join(f'<a id="{_ANCHOR_RE.match(line).group(1)}"></a>' for line in lines)  # type: ignore[union-attr]  # matched just above
        return f"<p>{escapeHtml(tokens[idx].content)}</p>"

    md.add_render_rule("html_inline", inline)
    md.add_render_rule("html_block", block)


def report_html(markdown: str, name: str, numbers: dict[int, str], claims: Mapping[int, ReviewClaim]) -> str:
    """The report's HTML for workspace `name`; `numbers` maps a reference number to its paper id, `claims`
    a claim number to its review record."""
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    _safe_html(md)
    tokens = md.parse(markdown)
    for token in tokens:
        if token.type == "inline" and token.children:
            _rewrite(token.children, name, numbers, claims)
    return md.renderer.render(tokens, md.options, {})


def _rewrite(children: list, name: str, numbers: dict[int, str], claims: Mapping[int, ReviewClaim]) -> None:
    pending: list[tuple[Any, str]] = []  # citation links waiting for the marker of their claim
    current: int | None = None  # the claim of an Evidence line (its anchor comes first)
    for i, tok in enumerate(children):
        if tok.type == "html_inline":
            m = _ANCHOR_RE.match(tok.content.strip()) or _OPEN_RE.match(tok.content.strip())
            if m and m.group(1).startswith("claim-"):
                current = int(m.group(1)[6:])
            continue
        if tok.type == "image":
            src = str(tok.attrGet("src") or "")
            if _relative(src):
                tok.attrSet("src", url("/ws/file", name=name, path=src))
            continue
        if tok.type != "link_open":
            continue
        href = str(tok.attrGet("href") or "")
        text = children[i + 1].content if i + 1 < len(children) and children[i + 1].type == "text" else ""
        ref, marker = _REF_RE.match(href), _CLAIM_RE.match(href)
        if ref and int(ref.group(1)) in numbers:
            pid = numbers[int(ref.group(1))]
            rest = _NUMBER_RE.sub("", text, count=1)
            located = (parse_locators(rest) or {}) if rest else {}  # "p.2", "Fig. 3", "Table 2" (report/citations)
            if located:
                tok.attrSet("href", url("/ws/page", name=name, paper=pid, page=located.get("first_page"),
                                        fig=located.get("figure"), tab=located.get("table")))
                tok.attrSet("class", "cite")
                pending.append((tok, pid))
            else:
                tok.attrSet("href", url("/ws/paper", name=name, paper=pid))
                tok.attrSet("class", "cite")
            if current is not None:
                tok.attrSet("href", str(tok.attrGet("href")) + f"&claim={current}")
        elif marker:
            n = int(marker.group(1))
            claim: ReviewClaim = claims.get(n) or {}
            tok.attrSet("class", f"verdict verdict-{claim.get('verdict', 'unknown')}")
            tok.attrSet("title", _evidence_title(claim))
            for cite, _ in pending:
                cite.attrSet("href", str(cite.attrGet("href")) + f"&claim={n}")
            pending = []
        elif _relative(href):
            tok.attrSet("href", url("/ws/file", name=name, path=href))
        elif href.startswith(("http://", "https://")):
            tok.attrSet("rel", "noopener noreferrer")


def _relative(href: str) -> bool:
    return bool(href) and not href.startswith(("#", "/")) and ":" not in href.split("/", 1)[0]


def _evidence_title(claim: ReviewClaim) -> str:
    if not claim:
        return "not checked"
    parts = [f"c{claim.get('n')} {claim.get('verdict')}"]
    if claim.get("quote"):
        parts.append(f"“{claim['quote']}”")
    if claim.get("why"):
        parts.append(str(claim["why"]))
    if claim.get("reviewer"):
        parts.append(f"reviewer {claim['reviewer']}")
    return " — ".join(parts)
