"""`export --format latex`: main.tex, references.bib and figures/, for Overleaf or arXiv; and `--engine latex`,
which compiles it with pdflatex + bibtex (or tectonic).

Text is escaped for TeX; Unicode pdflatex cannot set is replaced (Greek to math, a table, then transliterated);
math the model wrote keeps only commands from a fixed list, so no model text can read or write files.
Same workspace, same bytes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path

from agent_scientist.fsio import atomic_write_text
from agent_scientist.report.paper import Cite, Paper, Writer

_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$",
                 "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "`": r"\textasciigrave{}", "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", '"': r"\textquotedbl{}"}
GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta", "η": "eta",
         "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu", "ξ": "xi", "π": "pi",
         "ρ": "rho", "σ": "sigma", "ς": "varsigma", "τ": "tau", "υ": "upsilon", "φ": "phi", "χ": "chi",
         "ψ": "psi", "ω": "omega", "Γ": "Gamma", "Δ": "Delta", "Θ": "Theta", "Λ": "Lambda", "Ξ": "Xi",
         "Π": "Pi", "Σ": "Sigma", "Υ": "Upsilon", "Φ": "Phi", "Ψ": "Psi", "Ω": "Omega"}
# Symbols as math commands (usable in text as $\cmd$ and in math as \cmd).
MATH_SYMBOLS = {"≤": "leq", "≥": "geq", "≠": "neq", "≈": "approx", "×": "times", "±": "pm", "÷": "div",
                "·": "cdot", "∞": "infty", "→": "rightarrow", "←": "leftarrow", "↔": "leftrightarrow",
                "⇒": "Rightarrow", "∈": "in", "∑": "sum", "∏": "prod", "∫": "int", "√": "surd", "∂": "partial",
                "∇": "nabla", "∼": "sim", "≡": "equiv", "∝": "propto", "−": "minus", "✓": "checkmark",
                "✗": "times", "✘": "times", "⊂": "subset", "∪": "cup", "∩": "cap", "∀": "forall", "∃": "exists",
                "ℓ": "ell", "…": "ldots", "°": "circ"}
TEXT_SYMBOLS = {"–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "„": ",,", "•": r"\textbullet{}",
                "…": r"\ldots{}", "€": r"\texteuro{}", "™": r"\texttrademark{}", "©": r"\textcopyright{}",
                "®": r"\textregistered{}", "°": r"\textdegree{}", "µ": r"\textmu{}", "§": r"\S{}",
                "¶": r"\P{}", "†": r"\dag{}", "‡": r"\ddag{}", "\u00a0": "~", "\u2009": r"\,", "′": "'",
                "″": "''", "\ufffd": "?"}
# Math commands the model may use; any other becomes upright text (\input, \write and the like never run).
MATH_COMMANDS = frozenset(GREEK.values()) | frozenset(MATH_SYMBOLS.values()) | frozenset({
    "varepsilon", "vartheta", "varphi", "varrho", "frac", "dfrac", "tfrac", "sqrt", "text", "mathrm", "mathbf",
    "mathit", "mathcal", "mathbb", "operatorname", "hat", "bar", "tilde", "vec", "dot", "overline", "underline",
    "widehat", "left", "right", "big", "Big", "bigl", "bigr", "cdot", "cdots", "ldots", "dots", "le", "ge", "ne",
    "ll", "gg", "lt", "gt", "to", "mapsto", "log", "ln", "exp", "sin", "cos", "tan", "max", "min", "arg",
    "argmax", "argmin", "lim", "sup", "inf", "det", "Pr", "mid", "top", "quad", "qquad", "prime", "langle",
    "rangle", "lfloor", "rfloor", "lceil", "rceil", "simeq", "cong", "neg", "land", "lor", "oplus", "otimes",
    "leftarrow", "Leftarrow", "Leftrightarrow", "binom", "setminus", "emptyset", "varnothing", "star", "ast",
    "circ", "bullet", "subseteq", "supseteq", "supset", "notin", "partial", "boldsymbol", "displaystyle"})
_LIGATURES = "-`',<>!?"
_MATH_TOKEN_RE = re.compile(r"\\[A-Za-z]+|\\.|.", re.S)


def tex_unicode(ch: str) -> str:
    """A character pdflatex (utf8 inputenc, T1, textcomp) sets, or its replacement."""
    code = ord(ch)
    if code < 0x80 or 0xC0 <= code <= 0x17F and code not in (0xD7, 0xF7, 0x149, 0x17F):
        return ch
    if ch in TEXT_SYMBOLS:
        return TEXT_SYMBOLS[ch]
    if ch in GREEK:
        return f"$\\{GREEK[ch]}$"
    if ch in MATH_SYMBOLS:
        return f"$\\{MATH_SYMBOLS[ch]}$"
    if 0xA0 <= code <= 0xFF:
        return {"\u00ad": "-", "×": r"$\times$", "÷": r"$\div$"}.get(ch, ch)
    plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
    return escape_tex(plain) if plain else "?"


def escape_tex(text: str) -> str:
    """Plain text as TeX that sets it literally (no --, `` or << ligatures either)."""
    out = []
    for i, ch in enumerate(text):
        out.append(_TEXT_ESCAPES.get(ch) or tex_unicode(ch))
        if ch in _LIGATURES and text[i + 1:i + 2] in _LIGATURES and text[i + 1:i + 2]:
            out.append("{}")
    return "".join(out)


def unicode_safe(text: str) -> str:
    """TeX source (e.g. the BibTeX export) with only the characters pdflatex can set."""
    return "".join(tex_unicode(ch) if ord(ch) >= 0x80 else ch for ch in text)


def math_tex(tex: str) -> str | None:
    """The model's math with allowed commands only, or None when it cannot be set as math (then: text)."""
    if "^^" in tex:
        return None
    out, depth = [], 0
    for tok in _MATH_TOKEN_RE.findall(tex):
        if tok.startswith("\\") and len(tok) > 2:
            name = tok[1:]
            out.append(tok if name in MATH_COMMANDS else f"\\mathrm{{{name}}}")
        elif tok in ("\\\\", "\\\n"):
            out.append(" ")
        elif tok.startswith("\\"):
            out.append(tok if tok[1] in "{}%#&_$,;:! |" else escape_tex(tok[1]))
        elif tok in "%#&":
            out.append("\\" + tok)
        elif tok == "~":
            out.append("\\sim ")
        elif tok == "{":
            depth += 1
            out.append(tok)
        elif tok == "}":
            depth -= 1
            if depth < 0:
                return None
            out.append(tok)
        elif ord(tok) >= 0x80:
            if tok in GREEK or tok in MATH_SYMBOLS:
                out.append(f"\\{GREEK.get(tok) or MATH_SYMBOLS[tok]} ")
            else:
                out.append(f"\\text{{{escape_tex(tok)}}}")
        else:
            out.append(tok)
    return "".join(out) if depth == 0 else None


def _locator(cite: Cite) -> str:
    """natbib's optional argument, the words of the markdown report's `[2, pp.5-6, Fig. 1]` set for TeX:
    `pp.~5--6, Fig.~1`, `Table~2`, `\\S~2.1`."""
    parts = []
    if cite.pages:
        first, last = cite.pages
        parts.append(f"p.~{first}" if first == last else f"pp.~{first}--{last}")
    if cite.figure is not None:
        parts.append(f"Fig.~{cite.figure}")
    if cite.table is not None:
        parts.append(f"Table~{cite.table}")
    if not parts and cite.locator:
        free = cite.locator
        parts.append(r"\S~" + escape_tex(free[1:].strip()) if free.startswith("§") else escape_tex(free))
    return ", ".join(parts)


class LatexWriter(Writer):
    def __init__(self, paper: Paper, files_dir: Path, figures_dir: Path):
        super().__init__(paper, files_dir, figures_dir)
        self.keys = {number: key for number, _paper, key in paper.references}

    def text(self, text: str) -> str:
        return escape_tex(text)

    def math(self, tex: str) -> str:
        safe = math_tex(tex)
        return f"${safe}$" if safe is not None else escape_tex(f"${tex}$")

    def strong(self, inner: str) -> str:
        return f"\\textbf{{{inner}}}"

    def emph(self, inner: str) -> str:
        return f"\\emph{{{inner}}}"

    def code(self, text: str) -> str:
        return f"\\texttt{{{escape_tex(text)}}}"

    def cite_one(self, cite: Cite, alone: bool) -> str:
        """`\\citep[p.~3]{key}` alone; `\\citealp[p.~3]{key}` inside a group's brackets."""
        where = _locator(cite)
        command = "\\citep" if alone else "\\citealp"
        return (f"{command}{f'[{where}]' if where else ''}{{{self.keys[cite.number or 0]}}}"
                + (" (RETRACTED)" if cite.retracted else ""))

    def cite_removed(self, cite: Cite) -> str:
        return f"\\hyperref[unverified-citations]{{citation removed: {escape_tex(cite.label)}}}"

    def link(self, inner: str, href: str) -> str:
        url = re.sub(r"[^A-Za-z0-9:/.?=_-]", lambda m: "".join(f"\\%{b:02X}" for b in m.group().encode()), href)
        return f"\\href{{{url}}}{{{inner}}}"

    def internal(self, inner: str, anchor: str) -> str:
        return f"\\hyperref[{anchor}]{{{inner}}}"

    def anchor(self, anchor: str) -> str:
        return f"\\phantomsection\\label{{{anchor}}}"

    def linebreak(self) -> str:
        return "\\newline\n"

    def heading(self, level: int, inner: str) -> str:
        command = {1: "section", 2: "section", 3: "subsection", 4: "subsubsection"}.get(level, "paragraph")
        return f"\\{command}{{{inner}}}\n\n"

    def items(self, items: list[str], ordered: bool, start: int) -> str:
        env = "enumerate" if ordered else "itemize"
        body = "".join(f"\\item{'{}' if item.startswith('[') else ''} {item}\n" for item in items)  # not \\item[label]
        return f"\\begin{{{env}}}\n{body}\\end{{{env}}}\n\n"

    def quote(self, inner: str) -> str:
        return f"\\begin{{quote}}\n{inner.strip()}\n\\end{{quote}}\n\n"

    def code_block(self, text: str) -> str:
        lines = [escape_tex(line).replace(" ", "\\ ") or "~" for line in text.split("\n")]
        return "\\begin{flushleft}\\small\\ttfamily\n" + "\\\\\n".join(lines) + "\n\\end{flushleft}\n\n"

    def table(self, head: list[list[str]], rows: list[list[str]], widths: list[float], caption: str = "",
              short: str = "") -> str:
        """A booktabs tabular; with a caption, in a numbered table float (the short caption is plain text:
        a \\citep in a moving argument would be written to the .aux)."""
        columns = "".join(f">{{\\raggedright\\arraybackslash}}p{{{w * 0.92:.3f}\\linewidth}}" for w in widths)

        def line(row: list[str], bold: bool = False) -> str:
            cells = [f"\\textbf{{{c}}}" if bold and c else c for c in row]
            text = " & ".join(cells + [""] * (len(widths) - len(row))) + " \\\\"
            return "{}" + text if text.startswith("[") else text  # not the previous row's \\\\[length]

        lines = ["\\begin{table}[htbp]\n\\centering\\small" if caption else "\\begin{center}\\small"]
        if caption:
            lines.append(f"\\caption[{{{escape_tex(short)}}}]{{{caption}}}" if short else f"\\caption{{{caption}}}")
        lines += [f"\\begin{{tabular}}{{{columns}}}", "\\toprule"]
        lines += [line(row, bold=True) for row in head]
        if head:
            lines.append("\\midrule")
        lines += [line(row) for row in rows]
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}" if caption else "\\end{center}", "", ""]
        return "\n".join(lines)

    def figure(self, name: str, caption: str, short: str = "") -> str:
        short_caption = f"[{{{escape_tex(short)}}}]" if short else ""
        return ("\\begin{figure}[htbp]\n\\centering\n"
                f"\\includegraphics[width=0.7\\linewidth,height=0.35\\textheight,keepaspectratio]{{figures/{name}}}\n"
                f"\\caption{short_caption}{{{caption}}}\n\\end{{figure}}\n\n")

    def rule(self) -> str:
        return "\\par\\noindent\\rule{\\linewidth}{0.4pt}\n\n"


def latex_document(paper: Paper, files_dir: Path, figures_dir: Path, paper_size: str) -> tuple[str, LatexWriter]:
    """main.tex's text; the writer copied the figures it placed into figures_dir."""
    w = LatexWriter(paper, files_dir, figures_dir)
    parts = w.outline()
    title, front, abstract, body, appendix, footer = (parts.title, parts.front, parts.abstract, parts.body,
                                                      parts.appendix, parts.footer)
    keys = ",".join(key for _n, _p, key in paper.references)
    lines = [
        "% Generated by agent-scientist: compile with pdflatex, bibtex, pdflatex, pdflatex.",
        f"\\documentclass[11pt,{paper_size}paper]{{article}}",
        "\\usepackage[utf8]{inputenc}",
        "\\usepackage[T1]{fontenc}",
        "\\usepackage{textcomp}",
        "\\usepackage{mathptmx}",
        "\\usepackage{amsmath,amssymb}",
        "\\usepackage{graphicx}",
        "\\usepackage{booktabs}",
        "\\usepackage{array}",
        "\\usepackage[margin=2.5cm]{geometry}",
        "\\usepackage[numbers,square]{natbib}",
        "\\usepackage[colorlinks=true,linkcolor=blue,citecolor=blue,urlcolor=blue]{hyperref}",
        "",
        f"\\title{{{title}}}",
        "\\author{agent-scientist}",
        "\\date{}",
        "",
        "\\begin{document}",
        "\\maketitle",
        "",
    ]
    if paper.partial:
        lines += ["\\begin{center}\\fbox{\\parbox{0.9\\linewidth}{\\centering\\textbf{PARTIAL REPORT:} "
                  "the run has not completed.}}\\end{center}", ""]
    lines += ["{\\small", front, "}", ""]
    if abstract:
        lines += ["\\begin{abstract}", abstract, "\\end{abstract}", ""]
    if keys:
        lines += [f"\\nocite{{{keys}}}% numbered in order of first citation, as in the markdown report", ""]
    lines.append(body.rstrip("\n"))
    lines.append("")
    if keys:
        lines += ["\\bibliographystyle{unsrtnat}", "\\bibliography{references}", ""]
    else:
        lines += ["\\section*{References}", "", "No papers were cited.", ""]
    if appendix.strip():
        lines += ["\\appendix", "", appendix.rstrip("\n"), ""]
    lines += ["\\vfill", "{\\footnotesize " + footer + "}", "", "\\end{document}", ""]
    return "\n".join(lines), w


def write_latex(paper: Paper, files_dir: Path, out_dir: Path, bibtex: str, paper_size: str) -> LatexWriter:
    """main.tex, references.bib and figures/ in out_dir (made if missing; earlier figures/ replaced)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = out_dir / "figures"
    if figures.is_dir():
        shutil.rmtree(figures)
    figures.mkdir()
    text, writer = latex_document(paper, files_dir, figures, paper_size)
    atomic_write_text(out_dir / "references.bib", unicode_safe(bibtex))
    atomic_write_text(out_dir / "main.tex", text)
    if not any(figures.iterdir()):
        figures.rmdir()
    return writer


def latex_engine() -> str | None:
    """The TeX engine `--engine latex` uses: pdflatex (with bibtex), else tectonic; None when neither is there."""
    if shutil.which("pdflatex") and shutil.which("bibtex"):
        return "pdflatex"
    return "tectonic" if shutil.which("tectonic") else None


def compile_latex(folder: Path, timeout: float = 120.0) -> bytes:
    """The PDF of folder/main.tex, compiled in a copy (the folder is left as it was); a failure names the
    first error line of the log."""
    engine = latex_engine()
    if engine is None:
        raise RuntimeError("--engine latex needs pdflatex and bibtex (Debian: apt-get install texlive-latex-base "
                           "texlive-latex-recommended texlive-fonts-recommended) or tectonic; the default "
                           "engine (typst) needs neither.")
    with tempfile.TemporaryDirectory(prefix="agent-scientist-tex-") as tmp:
        build = Path(tmp) / "paper"
        shutil.copytree(folder, build)
        if engine == "tectonic":
            steps = [["tectonic", "--keep-logs", "main.tex"]]
        else:
            tex = ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "main.tex"]
            steps = [tex, ["bibtex", "main"], tex, tex] if (build / "references.bib").read_text().count("@") else \
                [tex, tex]
        for step in steps:
            done = subprocess.run(step, cwd=build, capture_output=True, text=True, errors="replace",
                                  timeout=timeout, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                log = (build / "main.log").read_text(errors="replace") if (build / "main.log").exists() else ""
                first = next((line for line in (log or done.stdout).splitlines() if line.startswith("!")), "")
                raise RuntimeError(f"{step[0]} failed on main.tex: {first or done.stdout[-300:].strip()}")
        return (build / "main.pdf").read_bytes()
