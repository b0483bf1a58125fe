"""The paper export's shared part: the markdown report's sections (one home for content, numbering and
references) rearranged as a paper, and walked as a markdown tree by a writer per typesetting language.

`latex.py` and `pdf.py` (Typst) subclass `Writer`; what they share is here: the outline (title, abstract,
sections, the figures and tables the report cites from papers, appendix) and its walk, citation groups, math the
model wrote between `$...$`, figures copied to `figures/`.
"""

from __future__ import annotations

import re
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token

from agent_scientist.papers.citation_index import workspace_visuals
from agent_scientist.papers.citations import parse_locators
from agent_scientist.papers.layout import paper_dir
from agent_scientist.papers.visuals import caption_body, find_figure, find_table
from agent_scientist.records import Note, PaperMeta
from agent_scientist.report.citations import locator_text
from agent_scientist.report.markdown import MarkdownReport, build_markdown
from agent_scientist.workspace import Workspace

# The report's sections as the paper orders them: body, then appendix (the claims' evidence, unverified citations).
# The report's "figures" section is set anew from the same citations (cited_visuals: figures and tables).
BODY = ("findings", "experiments", "open_questions", "missed")
APPENDIX = ("evidence", "unverified")
MATH_OPEN, MATH_CLOSE = "\ue010", "\ue011"
CITE_PREFIX = "#cite-"

_MATH_RE = re.compile(r"(?<![\\$\w])\$(?=[^\s$])([^$\n]{1,500}?)(?<=[^\s\\])\$(?!\d)")
_ITEM = r"\[(?:[^\[\]]|\\\[|\\\])*\]\(#(?:ref-\d+|unverified-citations)\)(?: \(RETRACTED\))?"
_GROUP_RE = re.compile(rf"(?<!\\)\[(?P<items>{_ITEM}(?:; {_ITEM})*)\]|(?P<bare>{_ITEM})")
_ITEM_RE = re.compile(r"\[(?P<label>(?:[^\[\]]|\\\[|\\\])*)\]\(#(?P<target>ref-\d+|unverified-citations)\)"
                      r"(?P<retracted> \(RETRACTED\))?")
_ANCHOR_RE = re.compile(r'<a id="([A-Za-z0-9_-]+)">')
_FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg")  # what pdflatex and Typst both place as they are
_MD_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")  # a markdown backslash escape of punctuation
MAX_TABLE_ROWS = 40  # rows of a cited table reproduced in the paper (a float must fit one page); the rest: a note


@dataclass
class Cite:
    """One citation of a group: a verified reference (number, pages, figure, table) or a removed one (label)."""

    number: int | None
    pages: tuple[int, int] | None = None
    figure: int | None = None
    table: int | None = None
    locator: str = ""  # a free locator ("§2.1") when none of pages, figure, table
    label: str = ""  # U1 for a removed one
    retracted: bool = False

    @property
    def where(self) -> str:
        """The locator as the markdown report shows it: `p.3`, `pp.5-6, Fig. 2`, `Table 1`, `§2`."""
        return locator_text(self.pages, self.figure, self.table).removeprefix(", ") or self.locator


@dataclass
class Visual:
    """A figure or table of a paper that the report cites (`fig.N`, `tab.N`), reproduced under its caption."""

    kind: str  # "figure" or "table"
    number: int  # in the cited paper
    source: Cite  # the citation of it: [1, p.4, Table 2]
    caption: str  # the paper's caption without its "Table 2:" label (the paper numbers it anew)
    image: Path | None = None  # a figure's PNG in the paper's cache folder
    rows: list[list[str]] = field(default_factory=list)  # a table's grid, every cell as the paper has it
    header_rows: int = 1
    more_rows: int = 0  # rows past MAX_TABLE_ROWS, left out with a note


@dataclass
class Paper:
    """The report as a paper: everything a writer needs, in order."""

    title: str
    partial: bool
    front: str  # the header's facts (date, workspace, models...) and the partial notice, as markdown
    abstract: str
    body: list[str]  # markdown sections, each starting with its `## ` heading
    references: list[tuple[int, PaperMeta, str]]  # (number, paper, bib key)
    references_md: str  # the numbered list as the markdown report writes it
    appendix: list[str]
    footer: str
    math: list[str] = field(default_factory=list)
    cites: list[list[Cite]] = field(default_factory=list)
    anchors: set[str] = field(default_factory=set)
    report: MarkdownReport | None = None
    visuals: list[Visual] = field(default_factory=list)


def build_paper(ws: Workspace, notes: list[Note] | None, notes_error: str = "",
                strict: bool = False) -> Paper:
    """Assemble the markdown report (links relative to files/) and rearrange its sections as a paper."""
    from agent_scientist.report.formats import bib_keys

    report = build_markdown(ws, notes, ws.files_dir, notes_error, strict)
    sections = dict(report.sections)
    math: list[str] = []
    cites: list[list[Cite]] = []
    anchors: set[str] = set()

    def prepare(md: str) -> str:
        anchors.update(_ANCHOR_RE.findall(md))
        return _protect_cites(_protect_math(md, math), cites)

    header = sections["header"].split("\n")
    title = header[0].removeprefix("# ").strip()
    front = "\n".join(header[1:]).strip("\n")
    answer = sections["answer"].removeprefix("## Answer").strip("\n")
    abstract, rest = _split_abstract(answer)
    body = [prepare("## Answer\n\n" + rest)] if rest.strip() else []
    body += [prepare(sections[k]) for k in BODY if k in sections]
    appendix = [prepare(sections[k]) for k in APPENDIX if k in sections]
    paper = Paper(prepare(title), report.partial, prepare(front), prepare(abstract), body, bib_keys(report.index),
                  prepare(sections["references"]), appendix, prepare(sections.get("footer", "")), math, cites,
                  anchors, report, cited_visuals(ws, report))
    return paper


def cited_visuals(ws: Workspace, report: MarkdownReport) -> list[Visual]:
    """Each figure (with its extracted image) and table the report cites, once, in order of first citation."""
    found = workspace_visuals(ws)
    papers = {str(p["id"]): p for p in ws.papers()}
    seen: set[tuple[str, str, int]] = set()
    out: list[Visual] = []
    for occ in report.index.occurrences:
        if not occ.verified or occ.number is None or occ.paper_id not in papers:
            continue
        for kind, number in (("figure", occ.figure), ("table", occ.table)):
            if number is None or (occ.paper_id, kind, number) in seen:
                continue
            seen.add((occ.paper_id, kind, number))
            extracted = found(papers[occ.paper_id])
            figure = find_figure(extracted, number) if kind == "figure" else None
            table = find_table(extracted, number) if kind == "table" else None
            record = figure or table
            if record is None:
                continue
            pages = [p for p in (table["pages"] if table else [record["page"]]) if p]
            source = Cite(occ.number, (pages[0], pages[-1]) if pages else None, number if kind == "figure" else None,
                          number if kind == "table" else None, retracted=occ.retracted)
            caption = caption_body(record["caption"]) or f"{kind.capitalize()} {number}"
            if figure is not None:
                image = paper_dir(ws, occ.paper_id) / figure.get("image", "")
                if figure.get("image") and image.is_file():
                    out.append(Visual(kind, number, source, caption, image=image))
                continue
            assert table is not None  # record is the figure or the table
            rows = [["" if cell is None else cell for cell in row] for row in table["rows"]]
            if not rows:
                continue
            header = max(0, min(table["header_rows"] or 1, len(rows)))
            keep = header + MAX_TABLE_ROWS
            out.append(Visual(kind, number, source, caption, rows=rows[:keep], header_rows=header,
                              more_rows=max(0, len(rows) - keep)))
    return out


def _split_abstract(answer: str) -> tuple[str, str]:
    """The answer's first paragraph (not a heading, list, table, fence or figure) and the rest."""
    blocks = answer.split("\n\n")
    for i, block in enumerate(blocks):
        first = block.lstrip()
        if not first or first[0] in "#|`~!-*>" or re.match(r"^\d+[.)]\s", first) or first.startswith("*("):
            continue
        return block, "\n\n".join(blocks[:i] + blocks[i + 1:])
    return "", answer


def _protect_math(md: str, math: list[str]) -> str:
    """Each `$...$` the model wrote becomes a placeholder markdown leaves alone; the writers set it as math."""
    def keep(m: re.Match) -> str:
        inner = m.group(1).replace("&lt;", "<").replace("\\[", "[").replace("\\]", "]")
        math.append(inner)
        return f"{MATH_OPEN}{len(math) - 1}{MATH_CLOSE}"

    return _MATH_RE.sub(keep, md)


def _protect_cites(md: str, cites: list[list[Cite]]) -> str:
    """Each citation group `[[1, p.3](#ref-1); [citation removed: U2](#unverified-citations)]` becomes one
    link `[c](#cite-K)`: a writer sets the group as a whole (`\\citep[p.~3]{key}`, `[1, p.3]` linked)."""
    def group(m: re.Match) -> str:
        items = []
        for item in _ITEM_RE.finditer(m.group("items") or m.group("bare")):
            label = _MD_ESCAPE_RE.sub(r"\1", item.group("label"))
            if item.group("target") == "unverified-citations":
                items.append(Cite(None, label=label.removeprefix("citation removed: ")))
                continue
            _number, _, where = label.partition(", ")
            items.append(_located(int(item.group("target")[4:]), where, bool(item.group("retracted"))))
        cites.append(items)
        return f"[c]({CITE_PREFIX}{len(cites) - 1})"

    return _GROUP_RE.sub(group, md)


def _located(number: int, where: str, retracted: bool) -> Cite:
    """A verified citation from the locator text the report wrote after its number, read with the one
    citation grammar (papers/citations.py): `p.3`, `pp.5-6, Fig. 2`, `Table 1`; anything else is a free locator."""
    found = parse_locators(where) if where else {}
    if found is None:
        return Cite(number, locator=where, retracted=retracted)
    first, last = found.get("first_page"), found.get("last_page")
    pages = (first, last if last is not None else first) if first is not None else None
    return Cite(number, pages, found.get("figure"), found.get("table"), retracted=retracted)


def unprotect(text: str, paper: Paper) -> str:
    """Placeholders back to the text as written (for code, where nothing is set as math)."""
    return re.sub(f"{MATH_OPEN}(\\d+){MATH_CLOSE}", lambda m: "$" + paper.math[int(m.group(1))] + "$", text)


def figure_name(relpath: str, taken: set[str]) -> str:
    """`runs/1/accuracy.png` -> `runs-1-accuracy.png`: one dot, no spaces, unique in figures/."""
    path = Path(relpath)
    stem = re.sub(r"[^A-Za-z0-9-]+", "-", str(path.with_suffix(""))).strip("-") or "figure"
    suffix = path.suffix.lower() if path.suffix.lower() in _FIGURE_SUFFIXES else ".png"
    name, n = stem + suffix, 2
    while name in taken:
        name, n = f"{stem}-{n}{suffix}", n + 1
    taken.add(name)
    return name


def copy_figure(source: Path, target: Path) -> bool:
    """Copy a PNG/JPEG as it is; anything else pymupdf can open (SVG, GIF, WebP...) is drawn to PNG."""
    if source.suffix.lower() in _FIGURE_SUFFIXES:
        shutil.copyfile(source, target)
        return True
    import pymupdf

    try:
        with pymupdf.open(source) as doc:
            doc[0].get_pixmap(dpi=150).save(str(target))
        return True
    except Exception:  # an image nothing can read: the paper says so instead of failing
        return False


_MD = MarkdownIt("commonmark", {"html": True}).enable("table")


@dataclass
class Rendered:
    """A Paper's parts in one typesetting language, for the writer's document template."""

    title: str
    front: str
    abstract: str
    body: str  # the sections, then the figures and tables cited from papers
    appendix: str
    footer: str


class Writer(ABC):
    """Walks the markdown of a Paper and writes one typesetting language; subclasses say how."""

    def __init__(self, paper: Paper, files_dir: Path, figures_dir: Path):
        self.paper = paper
        self.files_dir = files_dir
        self.figures_dir = figures_dir
        self.figures: dict[str, str] = {}  # files/ path (or paper id:image) -> name under figures/
        self.figure_count = 0

    # -- to override -------------------------------------------------------
    @abstractmethod
    def text(self, text: str) -> str:
        ...

    @abstractmethod
    def math(self, tex: str) -> str:
        ...

    @abstractmethod
    def strong(self, inner: str) -> str:
        ...

    @abstractmethod
    def emph(self, inner: str) -> str:
        ...

    @abstractmethod
    def code(self, text: str) -> str:
        ...

    @abstractmethod
    def cite_one(self, cite: Cite, alone: bool) -> str:
        """A verified citation, `alone` when it is the whole group (the writer may bracket it itself)."""

    @abstractmethod
    def cite_removed(self, cite: Cite) -> str:
        """A removed citation's marker, linking to the appendix of unverified citations (never a cite)."""

    @abstractmethod
    def link(self, inner: str, href: str) -> str:
        ...

    @abstractmethod
    def internal(self, inner: str, anchor: str) -> str:
        ...

    @abstractmethod
    def anchor(self, anchor: str) -> str:
        ...

    @abstractmethod
    def linebreak(self) -> str:
        ...

    @abstractmethod
    def heading(self, level: int, inner: str) -> str:
        ...

    def paragraph(self, inner: str) -> str:
        return inner + "\n\n"

    @abstractmethod
    def items(self, items: list[str], ordered: bool, start: int) -> str:
        ...

    @abstractmethod
    def quote(self, inner: str) -> str:
        ...

    @abstractmethod
    def code_block(self, text: str) -> str:
        ...

    @abstractmethod
    def table(self, head: list[list[str]], rows: list[list[str]], widths: list[float], caption: str = "",
              short: str = "") -> str:
        """A table (head rows, body rows of rendered cells); with a caption, a numbered float (`short`: the
        caption's plain text, for lists and PDF outlines)."""

    @abstractmethod
    def figure(self, name: str, caption: str, short: str = "") -> str:
        ...

    @abstractmethod
    def rule(self) -> str:
        ...

    # -- shared ------------------------------------------------------------
    def outline(self) -> Rendered:
        """The walk over the paper every writer does: each part rendered, in the paper's order."""
        paper = self.paper
        return Rendered(self.render(paper.title).strip(), self.render(paper.front).strip(),
                        self.render(paper.abstract).strip(),
                        "".join(self.render(md) for md in paper.body) + self.visuals(),
                        "".join(self.render(md) for md in paper.appendix), self.render(paper.footer).strip())

    def cite(self, group: list[Cite]) -> str:
        """A citation group: one verified citation alone, else `[a; b; citation removed: U1]`."""
        if len(group) == 1 and group[0].number is not None:
            return self.cite_one(group[0], alone=True)
        parts = [self.cite_removed(c) if c.number is None else self.cite_one(c, alone=False) for c in group]
        return self.text("[") + self.text("; ").join(parts) + self.text("]")

    def visuals(self) -> str:
        """The figures and tables the report cites from papers, each under the paper's caption and its source;
        every word of a caption or cell is set as text."""
        out = []
        for v in self.paper.visuals:
            source = self.text(" Source: ") + self.cite([v.source]) + self.text(".")
            caption = self.text(v.caption) + source
            if v.kind == "figure" and v.image is not None:
                name = self._place(f"{v.image.parent.name}:{v.image.name}", v.image,
                                   f"{v.image.parent.name}/{v.image.name}")
                out.append(self.figure(name, caption, v.caption) if name else self.paragraph(
                    self.emph(self.text(f"(figure {v.number} of reference {v.source.number} could not be read)"))))
                continue
            cells = [[self.text(c) for c in row] for row in v.rows]
            head, body = cells[:v.header_rows], cells[v.header_rows:]
            if v.more_rows:
                caption += self.text(f" The paper's other {v.more_rows} rows are not shown here.")
            out.append(self.table(head, body, column_widths([], v.rows), caption,
                                  v.caption))
        return self.heading(2, self.text("Figures and tables cited")) + "".join(out) if out else ""

    def inline_text(self, text: str) -> str:
        """Text with the math placeholders set as math."""
        out, pos = [], 0
        for m in re.finditer(f"{MATH_OPEN}(\\d+){MATH_CLOSE}", text):
            out.append(self.text(text[pos:m.start()]))
            out.append(self.math(self.paper.math[int(m.group(1))]))
            pos = m.end()
        out.append(self.text(text[pos:]))
        return "".join(out)

    def render(self, md: str) -> str:
        tokens = _MD.parse(md)
        out, _ = self._blocks(tokens, 0, None)
        return out

    def _blocks(self, tokens: list[Token], i: int, until: str | None) -> tuple[str, int]:
        out: list[str] = []
        while i < len(tokens):
            tok = tokens[i]
            if until is not None and tok.type == until:
                return "".join(out), i + 1
            kind = tok.type
            if kind == "heading_open":
                out.append(self.heading(int(tok.tag[1]), self._inline(tokens[i + 1])))
                i += 3
            elif kind == "paragraph_open":
                inline = tokens[i + 1]
                out.append(self._paragraph(inline))
                i += 3
            elif kind in ("bullet_list_open", "ordered_list_open"):
                close = kind.replace("_open", "_close")
                start = int(tok.attrGet("start") or 1)
                items, i = self._list(tokens, i + 1, close)
                out.append(self.items(items, kind == "ordered_list_open", start))
            elif kind == "blockquote_open":
                inner, i = self._blocks(tokens, i + 1, "blockquote_close")
                out.append(self.quote(inner))
            elif kind in ("fence", "code_block"):
                out.append(self.code_block(unprotect(tok.content.rstrip("\n"), self.paper)))
                i += 1
            elif kind == "table_open":
                head, rows, i = self._table(tokens, i + 1)
                out.append(self.table([head], rows, column_widths(head, rows)))
            elif kind == "hr":
                out.append(self.rule())
                i += 1
            elif kind == "html_block":
                out.append("".join(self.anchor(a) for a in _ANCHOR_RE.findall(tok.content)))
                i += 1
            else:
                i += 1
        return "".join(out), i

    def _list(self, tokens: list[Token], i: int, close: str) -> tuple[list[str], int]:
        items = []
        while i < len(tokens) and tokens[i].type != close:
            if tokens[i].type == "list_item_open":
                inner, i = self._blocks(tokens, i + 1, "list_item_close")
                items.append(inner.strip())
            else:
                i += 1
        return items, i + 1

    def _table(self, tokens: list[Token], i: int) -> tuple[list[str], list[list[str]], int]:
        head: list[str] = []
        rows: list[list[str]] = []
        in_head = False
        while tokens[i].type != "table_close":
            tok = tokens[i]
            if tok.type == "thead_open":
                in_head = True
            elif tok.type == "thead_close":
                in_head = False
            elif tok.type == "tr_open" and not in_head:
                rows.append([])
            elif tok.type == "inline":
                (head if in_head else rows[-1]).append(self._inline(tok))
            i += 1
        return head, rows, i + 1

    def _paragraph(self, inline: Token) -> str:
        """A paragraph; images in it become figures after it (a paragraph of images only: just figures)."""
        children = inline.children or []
        images = [c for c in children if c.type == "image"]
        rest = [c for c in children if c.type not in ("image", "softbreak")]
        figures = "".join(self._figure(img) for img in images)
        if images and not any(c.type != "text" or c.content.strip() for c in rest):
            return figures
        return self.paragraph(self._inline(inline).strip()) + figures

    def _figure(self, image: Token) -> str:
        src = unquote(str(image.attrGet("src") or ""))
        caption = "".join(self.inline_text(c.content) for c in image.children or [] if c.type == "text")
        name = self._place(src, self.files_dir / src, src)
        if name is None:
            return self.paragraph(self.emph(self.text(f"(figure {src} could not be read)")))
        return self.figure(name, caption)

    def _place(self, key: str, source: Path, relname: str) -> str | None:
        """The name under figures/ of an image placed once more (copied the first time); None if unreadable."""
        if key not in self.figures:
            name = figure_name(relname, set(self.figures.values()))
            if not source.is_file() or not copy_figure(source, self.figures_dir / name):
                return None
            self.figures[key] = name
        self.figure_count += 1
        return self.figures[key]

    def _inline(self, inline: Token) -> str:
        out, _ = self._spans(inline.children or [], 0, None)
        return out

    def _spans(self, children: list[Token], i: int, until: str | None) -> tuple[str, int]:
        out: list[str] = []
        while i < len(children):
            tok = children[i]
            if until is not None and tok.type == until:
                return "".join(out), i + 1
            kind = tok.type
            if kind == "text":
                out.append(self.inline_text(tok.content))
            elif kind == "code_inline":
                out.append(self.code(unprotect(tok.content, self.paper)))
            elif kind in ("softbreak",):
                out.append(" ")
            elif kind == "hardbreak":
                out.append(self.linebreak())
            elif kind in ("strong_open", "em_open"):
                inner, i = self._spans(children, i + 1, kind.replace("_open", "_close"))
                out.append(self.strong(inner) if kind == "strong_open" else self.emph(inner))
                continue
            elif kind == "link_open":
                href = str(tok.attrGet("href") or "")
                inner, i = self._spans(children, i + 1, "link_close")
                out.append(self._link(inner, href))
                continue
            elif kind == "image":
                out.append(self.emph(self.text("(figure below)")))
            elif kind == "html_inline":
                out.extend(self.anchor(a) for a in _ANCHOR_RE.findall(tok.content))
            i += 1
        return "".join(out), i

    def _link(self, inner: str, href: str) -> str:
        if href.startswith(CITE_PREFIX):
            return self.cite(self.paper.cites[int(href[len(CITE_PREFIX):])])
        if href.startswith("#"):
            anchor = href[1:]
            return self.internal(inner, anchor) if anchor in self.paper.anchors else inner
        if re.match(r"^https?://", href):
            return self.link(inner, href)
        return inner  # a file of the workspace: the paper travels without it


def column_widths(head: list[str], rows: list[list[str]]) -> list[float]:
    """Each column's share of the line, from its longest cell (bounded both ways), summing to 1."""
    count = max([len(head)] + [len(r) for r in rows]) if head or rows else 1
    longest = [0] * count
    for row in [head, *rows]:
        for j, cell in enumerate(row):
            longest[j] = max(longest[j], len(re.sub(r"\\[a-zA-Z]+|[{}#\"\[\]]", "", cell)))
    weights = [min(max(n, 4), 60) for n in longest]
    total = sum(weights)
    return [w / total for w in weights]
