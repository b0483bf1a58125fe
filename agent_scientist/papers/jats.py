"""JATS full text (Europe PMC `fullTextXML`) as the cached page format the tools read (pages.json).

A PMC paper has no pages, so its text is paged here: blocks (headings, paragraphs, figure and table captions,
table rows, references) in document order, cut into pages of about PAGE_CHARS at block boundaries, each page
remembering the section it starts in (`sections`, shown in the page header as §Results). Parsed with the
standard library's ElementTree (no entity expansion beyond XML's own), the input size-capped by the caller
and here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from agent_scientist.records import Caption, OutlineEntry

PAGE_CHARS = 3000
MAX_XML = 20_000_000


class JatsError(ValueError):
    """Text that is not a JATS article we can page."""


@dataclass
class Paged:
    """What store_paper keeps of a full text: the Extracted shape of papers/pdf.py plus page sections."""

    pages: list[str]
    outline: list[OutlineEntry]
    captions: list[Caption]
    sections: list[str]
    references: list[str]
    title: str = ""
    scanned_pages: list[int] = field(default_factory=list)
    total_pages: int = 0
    scanned: bool = False


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1] if isinstance(tag, str) else ""


INLINE = frozenset(("italic", "bold", "sup", "sub", "sc", "underline", "monospace", "xref", "ext-link", "uri",
                    "named-content", "styled-content", "inline-formula", "email", "abbrev", "roman", "strike",
                    "overline", "inline-graphic", "break"))


def _pieces(el: ET.Element, out: list[str]) -> None:
    """Text in document order; a space between block elements (title, p, name parts), none around inline
    markup (H<sub>2</sub>O stays H2O)."""
    inline = _local(el.tag) in INLINE
    if not inline:
        out.append(" ")
    out.append(el.text or "")
    for child in el:
        _pieces(child, out)
        out.append(child.tail or "")
    if not inline:
        out.append(" ")


def _text(el: ET.Element | None) -> str:
    """All text under an element, white space collapsed."""
    if el is None:
        return ""
    out: list[str] = []
    _pieces(el, out)
    return " ".join("".join(out).split())


def _caption(el: ET.Element, kind: str) -> str:
    label = _text(el.find("label"))
    cap = el.find("caption")
    body = _text(cap) if cap is not None else ""
    return " ".join(x for x in (label or kind, body) if x).strip()


def _blocks(el: ET.Element, section: str, level: int, out: list[tuple[str, str, int, str]]) -> None:
    """(kind, text, level, section) for every block under `el`, in document order."""
    for child in el:
        tag = _local(child.tag)
        if tag == "sec":
            title = _text(child.find("title"))
            name = title or section
            if title:
                out.append(("heading", title, level, name))
            _blocks(child, name, level + 1, out)
        elif tag == "title":
            continue
        elif tag == "p":
            inner = [c for c in child if _local(c.tag) in ("fig", "table-wrap")]
            for c in inner:
                child.remove(c)
            text = _text(child)
            if text:
                out.append(("para", text, level, section))
            for c in inner:
                wrapper = ET.Element("x")
                wrapper.append(c)
                _blocks(wrapper, section, level, out)
        elif tag == "fig":
            out.append(("figure", _caption(child, "Figure"), level, section))
        elif tag == "table-wrap":
            out.append(("table", _caption(child, "Table"), level, section))
            for row in child.iter():
                if _local(row.tag) == "tr":
                    cells = [_text(c) for c in row if _local(c.tag) in ("td", "th")]
                    if any(cells):
                        out.append(("row", " | ".join(cells), level, section))
            foot = child.find("table-wrap-foot")
            if foot is not None and _text(foot):
                out.append(("para", _text(foot), level, section))
        elif tag in ("list", "disp-quote", "boxed-text", "statement"):
            for item in child.iter():
                if _local(item.tag) == "p" and _text(item):
                    out.append(("para", _text(item), level, section))
        elif tag in ("disp-formula",):
            if _text(child):
                out.append(("para", _text(child), level, section))


def _reference(ref: ET.Element) -> str:
    label = _text(ref.find("label"))
    cit = next((c for c in ref if _local(c.tag) in ("element-citation", "mixed-citation", "citation")), None)
    text = _text(cit if cit is not None else ref)
    if label and text.startswith(label):
        text = text[len(label):].strip()
    return f"[{label}] {text}" if label else text


def parse(data: bytes, max_pages: int = 500) -> Paged:
    """A JATS article as pages; JatsError when it is not one or carries no text."""
    if len(data) > MAX_XML:
        raise JatsError(f"the full text is {len(data) / 1e6:.1f} MB, over the {MAX_XML / 1e6:g} MB cap")
    if b"<!ENTITY" in data[:65536]:
        raise JatsError("the full text declares XML entities; refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise JatsError(f"the full text is not well-formed XML ({exc})") from None
    if _local(root.tag) != "article":
        article = next((e for e in root.iter() if _local(e.tag) == "article"), None)
        if article is None:
            raise JatsError(f"the full text is not a JATS article (root <{_local(root.tag)}>)")
        root = article
    title = _text(root.find("front/article-meta/title-group/article-title"))
    blocks: list[tuple[str, str, int, str]] = []
    abstract = root.find("front/article-meta/abstract")
    if abstract is not None:
        blocks.append(("heading", "Abstract", 1, "Abstract"))
        paras = [p for p in abstract.iter() if _local(p.tag) == "p"]
        for p in paras or [abstract]:
            if _text(p):
                blocks.append(("para", _text(p), 1, "Abstract"))
    body = root.find("body")
    if body is not None:
        _blocks(body, "Body", 1, blocks)
    back = root.find("back")
    references: list[str] = []
    if back is not None:
        for child in back:
            if _local(child.tag) == "ref-list":
                continue
            if _local(child.tag) in ("ack", "sec", "app-group", "fn-group", "notes"):
                wrapper = ET.Element("x")
                wrapper.append(child)
                if _local(child.tag) != "sec":
                    name = _text(child.find("title")) or {"ack": "Acknowledgements"}.get(_local(child.tag), "Notes")
                    blocks.append(("heading", name, 1, name))
                    _blocks(child, name, 2, blocks)
                else:
                    _blocks(wrapper, "Back matter", 1, blocks)
        references = [_reference(r) for r in back.iter() if _local(r.tag) == "ref"]
        if references:
            blocks.append(("heading", "References", 1, "References"))
            blocks += [("ref", r, 1, "References") for r in references if r]
    if not any(kind in ("para", "row", "figure", "table") for kind, *_ in blocks):
        raise JatsError("the full text has no body text (it may be metadata only)")
    return _paginate(blocks, title, references, max_pages)


def _paginate(blocks: list[tuple[str, str, int, str]], title: str, references: list[str],
              max_pages: int) -> Paged:
    pages: list[str] = []
    sections: list[str] = []
    outline: list[OutlineEntry] = []
    captions: list[Caption] = []
    current: list[str] = []
    size = 0
    for kind, text, level, section in blocks:
        if current and size + len(text) > PAGE_CHARS:
            pages.append("\n\n".join(current))
            current, size = [], 0
        if not current:
            sections.append(section)
        elif kind == "heading" and section not in sections[-1].split(", ") and sections[-1].count(", ") < 2:
            sections[-1] += f", {section}"  # every section a page holds, up to three
        page = len(pages) + 1
        if kind == "heading":
            outline.append(OutlineEntry(title=text, level=level, page=page))
        elif kind in ("figure", "table"):
            captions.append(Caption(text=text[:300], page=page))
        current.append(text)
        size += len(text) + 2
    if current:
        pages.append("\n\n".join(current))
    total = len(pages)
    keep = max(1, max_pages)
    return Paged(pages=pages[:keep], outline=[o for o in outline if o["page"] <= keep],
                 captions=[c for c in captions if c["page"] <= keep], sections=sections[:keep],
                 references=references, title=title, total_pages=total)


def source_text(data: bytes) -> str:
    """The text of the article's abstract, body and back matter in the XML (what paging should keep)."""
    root = ET.fromstring(data)
    parts = [root.find("front/article-meta/abstract"), root.find("body"), root.find("back")]
    return " ".join(_text(p) for p in parts if p is not None)
