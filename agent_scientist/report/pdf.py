"""`export --format pdf`: the paper typeset by Typst (the `typst` package ships its compiler and fonts as a
wheel: no TeX installation), with the same content, figures and numbered references as the LaTeX export,
and citations that link to their reference.

All text is written as Typst string literals (`#"..."`), so nothing the model wrote is markup or code.
Math is translated from the model's LaTeX to Typst math; if Typst refuses it, the math is set as text.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from agent_scientist.report.latex import GREEK, MATH_SYMBOLS, math_tex
from agent_scientist.report.paper import Cite, Paper, Writer, unprotect

TYPST_NAMES = {**{v: v for v in GREEK.values()}, "varepsilon": "epsilon.alt", "vartheta": "theta.alt",
               "varphi": "phi.alt", "leq": "<=", "le": "<=", "geq": ">=", "ge": ">=", "neq": "!=", "ne": "!=",
               "approx": "approx", "times": "times", "pm": "plus.minus", "div": "div", "cdot": "dot.op",
               "infty": "infinity", "rightarrow": "->", "to": "->", "leftarrow": "<-", "Rightarrow": "=>",
               "leftrightarrow": "<->", "in": "in", "notin": "in.not", "sum": "sum", "prod": "product",
               "int": "integral", "partial": "partial", "nabla": "nabla", "sim": "tilde.op", "equiv": "equiv",
               "propto": "prop", "minus": "-", "checkmark": "checkmark", "subset": "subset", "cup": "union",
               "cap": "inter", "forall": "forall", "exists": "exists", "ell": "ell", "ldots": "dots.h",
               "dots": "dots.h", "cdots": "dots.c", "circ": "circle.small", "ll": "<<", "gg": ">>", "lt": "<",
               "gt": ">", "mapsto": "|->", "mid": "|", "quad": "quad", "qquad": "wide", "prime": "prime",
               "langle": "angle.l", "rangle": "angle.r", "emptyset": "emptyset", "varnothing": "emptyset",
               "setminus": "without", "subseteq": "subset.eq", "supseteq": "supset.eq", "supset": "supset",
               "simeq": "tilde.eq", "cong": "tilde.equiv", "neg": "not", "land": "and", "lor": "or",
               "oplus": "plus.circle", "otimes": "times.circle", "star": "star", "ast": "ast", "bullet": "bullet",
               "top": "top", "surd": "sqrt", "Leftarrow": "arrow.l.double", "Leftrightarrow": "<=>",
               **{f: f for f in ("log", "ln", "exp", "sin", "cos", "tan", "max", "min", "arg", "lim", "sup",
                                 "inf", "det", "Pr")}}
_WRAPPERS = {"sqrt": "sqrt", "hat": "hat", "widehat": "hat", "bar": "overline", "overline": "overline",
             "underline": "underline", "tilde": "tilde", "vec": "arrow", "dot": "dot", "mathbf": "bold",
             "boldsymbol": "bold", "mathit": "italic", "mathcal": "cal", "mathbb": "bb"}
_TEXTS = ("text", "mathrm", "operatorname", "argmax", "argmin")
_DROP = ("left", "right", "big", "Big", "bigl", "bigr", "displaystyle")
_TOKEN_RE = re.compile(r"\\[A-Za-z]+|\\.|[A-Za-z]+|\d+(?:\.\d+)?|\s+|.", re.S)


def typst_string(text: str) -> str:
    """A Typst string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def typst_math(tex: str) -> str:
    """The model's LaTeX math (already reduced to allowed commands) as Typst math; unknown names upright."""
    tokens = [t for t in _TOKEN_RE.findall(tex) if t]
    out, _ = _math(tokens, 0, closing=None)
    return out


def _group(tokens: list[str], i: int) -> tuple[str, int]:
    """One argument: a {group} or a single token."""
    while i < len(tokens) and tokens[i].isspace():
        i += 1
    if i >= len(tokens):
        return "", i
    if tokens[i] == "{":
        return _math(tokens, i + 1, closing="}")
    return _math(tokens[i:i + 1], 0, closing=None)[0], i + 1


def _raw_group(tokens: list[str], i: int) -> tuple[str, int]:
    """A {group}'s text as written (for \\text)."""
    while i < len(tokens) and tokens[i].isspace():
        i += 1
    if i >= len(tokens) or tokens[i] != "{":
        return (tokens[i] if i < len(tokens) else ""), i + 1
    depth, j, text = 1, i + 1, []
    while j < len(tokens) and depth:
        depth += {"{": 1, "}": -1}.get(tokens[j], 0)
        if depth:
            text.append(tokens[j].lstrip("\\") if tokens[j].startswith("\\") and len(tokens[j]) == 2 else tokens[j])
        j += 1
    return "".join(text), j


def _math(tokens: list[str], i: int, closing: str | None) -> tuple[str, int]:
    out: list[str] = []
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if closing is not None and tok == closing:
            return " ".join(out), i
        if tok.startswith("\\") and len(tok) > 2:
            name = tok[1:]
            if name in ("frac", "dfrac", "tfrac", "binom"):
                a, i = _group(tokens, i)
                b, i = _group(tokens, i)
                out.append(f"({a})/({b})" if name != "binom" else f"binom({a}, {b})")
            elif name in _WRAPPERS:
                a, i = _group(tokens, i)
                out.append(f"{_WRAPPERS[name]}({a})")
            elif name in _TEXTS:
                text, i = _raw_group(tokens, i) if name not in ("argmax", "argmin") else (name[:3] + " " + name[3:], i)
                out.append(f"upright({typst_string(text)})")
            elif name in _DROP:
                continue
            elif name in TYPST_NAMES:
                out.append(TYPST_NAMES[name])
            else:
                out.append(f"upright({typst_string(name)})")
        elif tok.startswith("\\"):
            out.append({"\\,": "thin", "\\;": "med", "\\:": "med", "\\!": "", "\\ ": "space",
                        "\\|": "||"}.get(tok, "\\" + tok[1:] if tok[1:] in "{}%#&_$" else typst_string(tok[1:])))
        elif tok in ("^", "_"):
            arg, i = _group(tokens, i)
            out[-1:] = [(out[-1] if out else '""') + f"{tok}({arg})"]
        elif tok == "{":
            inner, i = _math(tokens, i, closing="}")
            out.append(f"({inner})" if inner else '""')
        elif tok.isspace():
            continue
        elif tok.isalpha() and tok.isascii():
            out.append(tok if len(tok) == 1 else " ".join(tok))
        elif tok in GREEK:
            out.append(GREEK[tok])
        elif tok in MATH_SYMBOLS:
            out.append(TYPST_NAMES.get(MATH_SYMBOLS[tok], typst_string(tok)))
        elif tok[0].isdigit() or tok in "+-=<>()|,;:!'*":
            out.append(tok)
        else:
            out.append("\\" + tok if tok in "/[]&#@\"$_^\\~" else typst_string(tok))
    return " ".join(out), i


class TypstWriter(Writer):
    def __init__(self, paper: Paper, files_dir: Path, figures_dir: Path, plain_math: bool = False):
        super().__init__(paper, files_dir, figures_dir)
        self.plain_math = plain_math

    def text(self, text: str) -> str:
        return f"#{typst_string(text)}" if text else ""

    def math(self, tex: str) -> str:
        safe = None if self.plain_math else math_tex(tex)
        if safe is None:
            return self.text(f"${tex}$")
        return f"${typst_math(safe)}$"

    def strong(self, inner: str) -> str:
        return f"#strong[{inner}]"

    def emph(self, inner: str) -> str:
        return f"#emph[{inner}]"

    def code(self, text: str) -> str:
        return f"#raw({typst_string(text)})"

    def _ref(self, shown: str, anchor: str) -> str:
        return f"#link(<{anchor}>)[{self.text(shown)}]" if anchor in self.paper.anchors else self.text(shown)

    def cite_one(self, cite: Cite, alone: bool) -> str:
        """`[2, p.2, Fig. 1]` as the markdown report writes it, linked to reference 2."""
        where = cite.where
        shown = self._ref(f"{cite.number}, {where}" if where else str(cite.number), f"ref-{cite.number}")
        shown += self.text(" (RETRACTED)") if cite.retracted else ""
        return self.text("[") + shown + self.text("]") if alone else shown

    def cite_removed(self, cite: Cite) -> str:
        return self._ref(f"citation removed: {cite.label}", "unverified-citations")

    def link(self, inner: str, href: str) -> str:
        return f"#link({typst_string(href)})[{inner}]"

    def internal(self, inner: str, anchor: str) -> str:
        return f"#link(<{anchor}>)[{inner}]"

    def anchor(self, anchor: str) -> str:
        return f"#metadata(none) <{anchor}>"

    def linebreak(self) -> str:
        return "#linebreak()\n"

    def heading(self, level: int, inner: str) -> str:
        return "=" * max(1, level - 1) + f" {inner}\n\n"

    def items(self, items: list[str], ordered: bool, start: int) -> str:
        args = ", ".join(f"[{item}]" for item in items)
        return (f"#enum(start: {start}, {args})\n\n" if ordered else f"#list({args})\n\n")

    def quote(self, inner: str) -> str:
        return f"#quote(block: true)[{inner.strip()}]\n\n"

    def code_block(self, text: str) -> str:
        return f"#raw({typst_string(text)}, block: true)\n\n"

    def table(self, head: list[list[str]], rows: list[list[str]], widths: list[float], caption: str = "",
              short: str = "") -> str:
        """A table with rules above, under the head and below; with a caption, a numbered table figure."""
        columns = ", ".join(f"{w * 100:.1f}fr" for w in widths)

        def cells(row: list[str], bold: bool = False) -> str:
            return ", ".join(f"[#strong[{c}]]" if bold and c else f"[{c}]"
                             for c in row + [""] * (len(widths) - len(row)))

        header = ", ".join(cells(row, bold=True) for row in head)
        body = "".join(f"  {cells(row)},\n" for row in rows)
        grid = (f"#set text(size: 8.5pt)\n#table(columns: ({columns},), stroke: none, align: left,\n"
                "  table.hline(),\n" + (f"  table.header({header}),\n  table.hline(stroke: 0.5pt),\n" if head else "")
                + f"{body}  table.hline(),\n)")
        if caption:
            return f"#figure(kind: table, caption: [{caption}])[#block(width: 100%)[{grid}]]\n\n"
        return f"#block(width: 100%)[{grid}]\n\n"

    def figure(self, name: str, caption: str, short: str = "") -> str:
        return (f"#figure(image({typst_string('figures/' + name)}, width: 70%), caption: [{caption}])\n\n")

    def rule(self) -> str:
        return "#line(length: 100%, stroke: 0.4pt)\n\n"


def typst_document(paper: Paper, files_dir: Path, figures_dir: Path, paper_size: str,
                   plain_math: bool = False) -> tuple[str, TypstWriter]:
    w = TypstWriter(paper, files_dir, figures_dir, plain_math)
    rendered = w.outline()
    title = rendered.title
    plain_title = re.sub(r"\\(.)", r"\1", unprotect(paper.title, paper))  # the PDF's metadata: no markdown escapes
    parts = [
        f"#set document(title: {typst_string(plain_title)}, date: none)",
        f"#set page(paper: {typst_string('us-letter' if paper_size == 'letter' else 'a4')}, margin: 2.5cm, "
        "numbering: \"1\")",
        "#set text(size: 10.5pt)",
        "#set par(justify: true)",
        "#set heading(numbering: \"1.1\")",
        "#show link: set text(fill: rgb(\"#1a4fb0\"))",
        "#show figure.where(kind: table): set figure.caption(position: top)",
        "",
        f"#align(center)[#text(size: 17pt, weight: \"bold\")[{title}]]",
        "",
    ]
    if paper.partial:
        parts += ["#align(center)[#block(stroke: 0.8pt, inset: 8pt)[#strong[#\"PARTIAL REPORT:\"] "
                  "#\"the run has not completed.\"]]", ""]
    parts += ["#block[#set text(size: 9pt)", rendered.front, "]", ""]
    if rendered.abstract:
        parts += ["#align(center)[#strong[#\"Abstract\"]]", "#pad(x: 1.5cm)[" + rendered.abstract + "]", ""]
    parts.append(rendered.body)
    parts += ["#heading(numbering: none)[#\"References\"]", "", w.render(paper.references_md.split("\n", 1)[1]
                                                                      if "\n" in paper.references_md else "")]
    if paper.appendix:
        parts += ["#counter(heading).update(0)", "#set heading(numbering: \"A.1\")", "", rendered.appendix]
    parts += ["#v(1fr)", "#text(size: 8pt)[" + rendered.footer + "]", ""]
    return "\n".join(parts), w


def typst_pdf(paper: Paper, files_dir: Path, paper_size: str) -> tuple[bytes, int]:
    """The PDF's bytes and the number of figures placed; math Typst refuses is set as text on a second try."""
    import typst

    with tempfile.TemporaryDirectory(prefix="agent-scientist-typst-") as tmp:
        root = Path(tmp)
        (root / "figures").mkdir()
        for plain in (False, True):
            source, writer = typst_document(paper, files_dir, root / "figures", paper_size, plain_math=plain)
            (root / "main.typ").write_text(source, encoding="utf-8")
            try:
                return bytes(typst.compile(str(root / "main.typ"), root=str(root))), writer.figure_count
            except typst.TypstError:
                if plain or not paper.math:
                    raise
    raise AssertionError("unreachable")
