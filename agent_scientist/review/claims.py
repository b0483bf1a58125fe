"""Claims: the final answer cut into sentences, each with the citations attached to it. Mechanical, no model.

What counts as a claim:
- Outside fenced code, the answer is cut into units: a paragraph (consecutive lines), a list item (with its
  indented continuation lines) and a table row. Headings, table delimiter rows and blank lines are not claims.
- Paragraphs and list items are split into sentences at `.`, `!` or `?` followed by white space and a capital
  letter, a digit, a bracket or emphasis; never inside `[...]` or a code span, and not after an abbreviation
  (e.g., i.e., et al., Fig., Eq., Sec., Tab., vs., cf., p., pp., approx.) or a one-letter initial.
  A table row is one unit.
- A sentence that carries a citation (a `[...]` bracket holding our citation syntax, or an id cited in prose:
  `arXiv:ID`, `doi:10.x/y`, `s2:ID`, `local:ID`, an arxiv.org or doi.org URL; papers/citations.py) is a cited claim. A citation group that opens a sentence right after the previous sentence's
  full stop ("... improves. [arXiv:X p.3] Next ...") belongs to the previous sentence.
- A sentence without a citation is an `uncited` claim when it states a number (a digit outside a citation),
  a comparison (more, less, better, worse, higher, lower, outperforms, than, improves, reduces, increases,
  decreases...) or a paper's finding (found, shows, reports, demonstrates, according to, et al.).
  Other sentences (framing, transitions) are not claims.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent_scientist.papers.citation_index import CitationIndex
from agent_scientist.papers.citations import PROSE_RE, bracket_kind, find_cited, parse_part, split_group

_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING_RE = re.compile(r"^ {0,3}#{1,6}(\s|$)")
_ITEM_RE = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+")
_TABLE_DELIM_RE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_BRACKET_RE = re.compile(r"\[([^\[\]\n]+)\](?!\()")
_CODE_RE = re.compile(r"(`+)[^`]*?\1")
_END_RE = re.compile(r"[.!?]+[\"'”’)*_]*\s+(?=[A-Z0-9\[(\"“*_])")
_ABBREV = {"e.g", "i.e", "al", "fig", "figs", "eq", "eqs", "sec", "tab", "vs", "cf", "p", "pp", "approx", "resp",
           "no", "ref", "refs", "ch", "vol", "dr", "prof", "mr", "ms", "etc"}
_NUMBER_RE = re.compile(r"\d")
_CUE_RE = re.compile(
    r"\b(?:more|less|fewer|better|worse|higher|lower|larger|smaller|faster|slower|outperform\w*|than|"
    r"improv\w*|reduc\w*|increas\w*|decreas\w*|exceed\w*|surpass\w*|beat\w*|found|find|finds|show\w*|"
    r"report\w*|demonstrat\w*|according to|et al\.?)(?!\w)",
    re.I,
)
_MARKUP_RE = re.compile(r"[*`]|^\s*(?:[-*+]|\d{1,3}[.)])\s+|^\s*\||\|\s*$")


@dataclass
class Cite:
    """One citation in a claim, resolved against the workspace's papers."""

    raw: str
    verified: bool
    paper_id: str = ""
    pages: tuple[int, int] | None = None
    reason: str = ""
    figure: int | None = None
    table: int | None = None


@dataclass
class Claim:
    """A sentence of the answer: `start`/`end` are offsets in the answer text, `cite_end` after its last citation."""

    number: int
    text: str  # as written, citations included
    plain: str  # without citations and markup, for the reviewer and the report
    start: int
    end: int
    cites: list[Cite] = field(default_factory=list)
    cite_end: int = 0

    @property
    def uncited(self) -> bool:
        return not self.cites


def prepare(answer: str) -> str:
    """The answer as the report renders it (newlines normalised): offsets refer to this text."""
    return answer.replace("\r\n", "\n").replace("\r", "\n")


def split_claims(answer: str, index: CitationIndex | None = None) -> list[Claim]:
    """The claims of an answer (see the module docstring), in order; citations resolved with `index`."""
    text = prepare(answer)
    claims: list[Claim] = []
    for start, end, split in _units(text):
        for s, e in (_sentences(text, start, end) if split else [(start, end)]):
            lead = _ITEM_RE.match(text[s:e])
            blank = len(text[s:e]) - len(text[s:e].lstrip())
            s += (lead.end() if lead else blank) if split else 0  # a claim starts after its list marker
            sentence = text[s:e]
            spans = _citation_spans(sentence)
            if not spans and not _is_uncited_claim(sentence):
                continue
            claim = Claim(len(claims) + 1, sentence.strip(), _plain(sentence, spans), s, e)
            for _cs, ce, raws in spans:
                claim.cites.extend(_resolve(raw, index, f"claim {claim.number}") for raw in raws)
                claim.cite_end = s + ce
            if not claim.plain:
                continue
            claims.append(claim)
    for n, claim in enumerate(claims, start=1):
        claim.number = n
    return claims


def _units(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, split into sentences?) of each paragraph, list item and table row outside code fences."""
    units: list[tuple[int, int, bool]] = []
    pos, fence = 0, None
    current: list[int] | None = None  # [start, end] of the unit being built
    lines = text.split("\n")
    for i, line in enumerate(lines):
        begin, finish = pos, pos + len(line)
        pos = finish + 1
        if fence is not None:
            if re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", line):
                fence = None
            continue
        opened = _FENCE_RE.match(line)
        table = "|" in line and (_TABLE_DELIM_RE.match(line) or line.strip().startswith("|")
                                 or (i + 1 < len(lines) and _TABLE_DELIM_RE.match(lines[i + 1]) and "-" in lines[i + 1]))
        if opened or not line.strip() or _HEADING_RE.match(line) or table or _ITEM_RE.match(line):
            if current:
                units.append((current[0], current[1], True))
                current = None
            if opened:
                fence = opened.group(1)
            elif table and not _TABLE_DELIM_RE.match(line):
                units.append((begin, finish, False))
            elif _ITEM_RE.match(line) and not _HEADING_RE.match(line):
                current = [begin, finish]
            continue
        if current:
            current[1] = finish
        else:
            current = [begin, finish]
    if current:
        units.append((current[0], current[1], True))
    return units


def _mask(text: str) -> str:
    """Brackets, code spans and URLs blanked (same length) so their dots never end a sentence."""
    for pattern in (_CODE_RE, _BRACKET_RE, PROSE_RE):
        text = pattern.sub(lambda m: "X" * len(m.group(0)), text)
    return text


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    chunk = text[start:end]
    masked = _mask(chunk)
    cuts = [0]
    for m in _END_RE.finditer(masked):
        word = re.search(r"([A-Za-z.]+)$", masked[:m.start()])
        before = (word.group(1) if word else "").lower().strip(".")
        if before in _ABBREV or (len(before) == 1 and before.isalpha()) or before.endswith(("e.g", "i.e")):
            continue
        cuts.append(m.end())
    cuts.append(len(chunk))
    spans = [(start + a, start + b) for a, b in zip(cuts, cuts[1:], strict=False) if chunk[a:b].strip()]
    # A citation group opening a sentence belongs to the sentence before it.
    out: list[tuple[int, int]] = []
    for s, e in spans:
        lead = re.match(r"(?:\s*\[[^\[\]\n]+\](?!\())+[.,;]?\s*", text[s:e])
        if out and lead and all(bracket_kind(c) for c in re.findall(r"\[([^\[\]\n]+)\]", lead.group(0))):
            out[-1] = (out[-1][0], s + lead.end())
            s += lead.end()
        if text[s:e].strip():
            out.append((s, e))
    return out


def _citation_spans(sentence: str) -> list[tuple[int, int, list[str]]]:
    """(start, end, raw citations) of each citation group in a sentence."""
    spans: list[tuple[int, int, list[str]]] = []
    masked = _CODE_RE.sub(lambda m: "x" * len(m.group(0)), sentence)
    for m in _BRACKET_RE.finditer(masked):
        content = sentence[m.start(1):m.end(1)]
        parts = split_group(content)
        if any(bracket_kind(p) for p in parts):
            spans.append((m.start(), m.end(), [p.strip() for p in parts]))
    blanked = _BRACKET_RE.sub(lambda m: "x" * len(m.group(0)), masked)
    for start, end, _raw in find_cited(blanked):
        spans.append((start, end, [sentence[start:end]]))
    return sorted(spans)


def _resolve(raw: str, index: CitationIndex | None, location: str) -> Cite:
    if index is None:
        return Cite(raw, False, reason="not resolved")
    if bracket_kind(raw) == "foreign":
        occ = index.reject(raw, location, "not a workspace paper")
    else:
        occ = index.cite(parse_part(raw), raw, location)
    return Cite(raw, occ.verified, occ.paper_id, occ.pages, occ.reason, occ.figure, occ.table)


def _is_uncited_claim(sentence: str) -> bool:
    text = _CODE_RE.sub(" ", sentence)
    return bool(_NUMBER_RE.search(text) or _CUE_RE.search(text))


def _plain(sentence: str, spans: list[tuple[int, int, list[str]]]) -> str:
    for s, e, _raws in reversed(spans):
        sentence = sentence[:s] + sentence[e:]
    sentence = _MARKUP_RE.sub("", sentence.strip())
    sentence = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(sentence.split()))
    return sentence.strip(" ;,")
