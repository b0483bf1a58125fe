"""The one paper-id grammar: parse, normalise, version, label, and the patterns for ids in text.

Every other module (tools, citations, memory, history trimming, the paper folders) asks this one; adding an
id kind is a change here only (papers/citations.py, the citation grammar, builds on these patterns). Forms, as stored in meta.json / as cited:

  arXiv   `2401.01234v2`, `hep-th/9901001`, `math.GT/0309136`    cited `arXiv:2401.01234v2`
  DOI     `doi:10.1093/mind/lix.236.433` (lower-cased)           cited the same
  S2      `s2:<40 hex>` (Semantic Scholar paperId, lower-cased)  cited the same
  local   `local:<6-64 hex>` (prefix of the PDF's sha256)       cited the same
  PubMed  `pmid:12345678` (1-9 digits, no leading zero)          cited the same
  PMC     `pmcid:PMC1234567` (`pmcid:1234567`, `PMC1234567` as a PMC URL are read the same)  cited the same

Rules where the earlier copies disagreed (the stricter reading that still accepts every real id):
old-style arXiv archives are lower case letters with at most one hyphen (`HEP-TH/9901001` is refused),
the subject class is two letters written upper case (`math.gt/...` becomes `math.GT/...`); the version
suffix `V3` becomes `v3`; local ids are hex only (6-64 digits), lower-cased; prefixes (`arXiv:`, `doi:`,
`s2:`, `local:`) are case-insensitive and may be followed by spaces; a DOI in text ends at white space,
`;`, `,`, a bracket or a quote, and never ends with `.` or `)`. arXiv's DOI `10.48550/arXiv.<id>` is a DOI
when stored and the arXiv id when compared (`PaperId.canonical`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_NEW = r"\d{4}\.\d{4,5}"
_OLD = r"(?-i:[a-z]+(?:-[a-z]+)?)(?:\.[A-Za-z]{2})?/\d{7}"
_VERSION = r"(?:[vV]\d+)?"
_ARXIV_URL = r"(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/"
_DOI_URL = r"(?:https?://)?(?:dx\.)?doi\.org/"
_DOI = r"10\.\d{4,9}/[^\s\[\]<>\"';,]*[^\s\[\]<>\"';,.)]"
_HEX40 = r"[0-9a-fA-F]{40}"
_LOCAL = r"[0-9a-fA-F]{6,64}"
_PMID = r"[1-9]\d{0,8}"
_PMCID = r"(?:PMC)?[1-9]\d{0,9}"
_PMC_URL = r"(?:https?://)?(?:www\.)?(?:ncbi\.nlm\.nih\.gov/pmc/articles/|pmc\.ncbi\.nlm\.nih\.gov/articles/)"
_PUBMED_URL = r"(?:https?://)?(?:www\.)?(?:pubmed\.ncbi\.nlm\.nih\.gov/|ncbi\.nlm\.nih\.gov/pubmed/)"

_ARXIV_DOI = r"10\.48550/arxiv\."  # the DOI arXiv gives every paper: 10.48550/arXiv.<id>


def _pattern(named: bool, bare: bool) -> str:
    """The id alternation; `named` gives the groups arxiv, bare, doi, s2, local, pmid, pmcid (a pattern embedded in another
    has none), `bare` admits an arXiv id with no prefix (brackets, fields; prose needs a prefix or a URL)."""
    def group(name: str, body: str) -> str:
        return f"(?P<{name}>{body})" if named else f"(?:{body})"

    alts = [rf"(?:arxiv\s*:\s*|{_ARXIV_URL}){group('arxiv', f'(?:{_NEW}|{_OLD}){_VERSION}')}(?:\.pdf)?(?![\w/]|\.\d)"]
    if bare:
        alts.append(rf"(?<![\w/.]){group('bare', f'(?:{_NEW}|{_OLD}){_VERSION}')}(?![\w/]|\.\d)")
    alts += [rf"(?:\bdoi\s*:\s*|{_DOI_URL}){group('doi', _DOI)}",
             rf"\bs2\s*:\s*{group('s2', _HEX40)}(?![0-9a-zA-Z])",
             rf"\blocal\s*:\s*{group('local', _LOCAL)}(?![0-9a-zA-Z])",
             rf"(?:\bpmid\s*:\s*|{_PUBMED_URL}){group('pmid', _PMID)}(?![0-9a-zA-Z])",
             rf"(?:\bpmcid\s*:\s*|{_PMC_URL}){group('pmcid', _PMCID)}(?![0-9a-zA-Z])"]
    return "(?:" + "|".join(alts) + ")"


# One id anywhere in free text (answers, notes, history). Groups: arxiv, bare, doi, s2, local, pmid, pmcid.
ID_PATTERN = _pattern(named=True, bare=True)
ID_RE = re.compile(ID_PATTERN, re.I)
_PREFIXED_RE = re.compile(_pattern(named=True, bare=False), re.I)
# An id written so that prose cites it (a prefix or a URL; a bare number is not a citation in running text);
# no named groups, to embed in another pattern compiled with re.I.
PROSE_PATTERN = _pattern(named=False, bare=False)
# A DOI printed anywhere (a journal footer: `10.x/y`, `DOI: 10.x/y`, `https://doi.org/10.x/y`).
_ANY_DOI_RE = re.compile(rf"(?<![\w/.])(?:doi\s*:\s*|{_DOI_URL})?({_DOI})", re.I)
# The start of a citation attempt in a bracket: any id form (prefix, URL or bare arXiv id).
PREFIX_RE = re.compile(rf"\s*(?:arxiv\s*:|doi\s*:|s2\s*:|local\s*:|pmid\s*:|pmcid\s*:|{_ARXIV_URL}|{_DOI_URL}|"
                       rf"{_PMC_URL}|{_PUBMED_URL})", re.I)
ID_FORMS = ("2401.01234, 2401.01234v2, arXiv:2401.01234, https://arxiv.org/abs/2401.01234, "
            "doi:10.1093/mind/lix.236.433, s2:<40-hex Semantic Scholar id>, pmid:12345678, pmcid:PMC1234567, "
            "or a local id such as local:ab12cd34")
KINDS = ("arxiv", "doi", "s2", "local", "pmid", "pmcid")
CITE_FORMS = "arXiv:ID, doi:DOI, s2:ID, pmid:N, pmcid:PMCN or local:ID"  # how a citation names each kind, for messages


class PaperIdError(ValueError):
    """Text that is not a paper id; the message lists the accepted forms."""


@dataclass(frozen=True)
class PaperId:
    """A normalised id: `kind` in KINDS; `value` without prefix (arXiv with its version, if any)."""

    kind: str
    value: str

    @property
    def stored(self) -> str:
        """The id as kept in meta.json and passed to tools (arXiv ids bare, the others prefixed)."""
        return self.value if self.kind == "arxiv" else f"{self.kind}:{self.value}"

    @property
    def label(self) -> str:
        """How answers cite it: `arXiv:ID`, `doi:...`, `s2:...`, `local:...`."""
        return f"arXiv:{self.value}" if self.kind == "arxiv" else self.stored

    @property
    def version(self) -> int:
        found = re.search(r"v(\d+)$", self.value) if self.kind == "arxiv" else None
        return int(found.group(1)) if found else 0

    @property
    def base(self) -> PaperId:
        """The id without its arXiv version suffix (itself for the other kinds)."""
        return PaperId(self.kind, re.sub(r"v\d+$", "", self.value)) if self.version else self

    @property
    def canonical(self) -> PaperId:
        """The id a citation or a gold source means: arXiv's own DOI (`10.48550/arXiv.<id>`) is the arXiv id."""
        if self.kind == "doi" and re.match(_ARXIV_DOI, self.value):
            pid = parse("arXiv:" + self.value[len("10.48550/arxiv."):])
            if pid is not None:
                return pid
        return self

    @property
    def key(self) -> str:
        """Version-free, case-free key to compare ids (what memory stores as `paper_base`)."""
        return self.base.value.lower() if self.kind == "arxiv" else self.stored.lower()


def _from_match(m: re.Match) -> PaperId:
    groups = m.groupdict()
    arxiv = groups["arxiv"] or groups.get("bare")
    if arxiv:
        base, version = re.fullmatch(r"(.+?)([vV]\d+)?", arxiv).groups()  # type: ignore[union-attr]  # matches any text
        if "/" in base:
            archive, number = base.split("/", 1)
            name, _, cls = archive.partition(".")
            base = f"{name}.{cls.upper()}/{number}" if cls else f"{name}/{number}"
        return PaperId("arxiv", base + (version or "").lower())
    if groups["pmid"]:
        return PaperId("pmid", groups["pmid"])
    if groups["pmcid"]:
        return PaperId("pmcid", "PMC" + re.sub(r"(?i)^pmc", "", groups["pmcid"]))
    for kind in ("doi", "s2", "local"):
        if groups[kind]:
            return PaperId(kind, groups[kind].lower())
    raise AssertionError("unreachable")  # pragma: no cover


def match_at(text: str, pos: int = 0) -> tuple[PaperId, int] | None:
    """The id starting at `pos` (after spaces) and where it ends, or None."""
    start = len(text) - len(text[pos:].lstrip())
    m = ID_RE.match(text, start)
    return (_from_match(m), m.end()) if m else None


def parse(text: str) -> PaperId | None:
    """The id that the whole of `text` is (brackets, quotes and spaces around it ignored), or None."""
    raw = str(text or "").strip().strip("[]()<>'\" ").rstrip(".")
    m = ID_RE.fullmatch(raw)
    return _from_match(m) if m else None


def parse_paper_id(text: str) -> str:
    """The stored form of an id a model or a person typed; PaperIdError says the accepted forms."""
    pid = parse(text)
    if pid is None:
        raise PaperIdError(f"Malformed paper id {text!r}. Use {ID_FORMS} (ids appear in search_papers results).")
    return pid.stored


def finditer(text: str, bare: bool = True) -> list[tuple[PaperId, int, int]]:
    """(id, start, end) of every id in free text, in order; `bare=False`: only ids with a prefix or a URL."""
    return [(_from_match(m), m.start(), m.end()) for m in (ID_RE if bare else _PREFIXED_RE).finditer(text or "")]


def find_ids(text: str, bare: bool = True) -> list[PaperId]:
    """Every id in free text, in order."""
    return [pid for pid, _s, _e in finditer(text, bare)]


def find_doi(text: str) -> str:
    """The first DOI printed in a text, with or without `doi:` or a doi.org URL, lower-cased; "" if none."""
    found = _ANY_DOI_RE.search(text or "")
    return found.group(1).lower() if found else ""


def printed_arxiv_id(text: str) -> PaperId | None:
    """The arXiv paper a printed page says it is: a line starting with `arXiv:ID` (arXiv's margin stamp
    `arXiv:2101.00001v2 [cs.LG] 3 Jan 2021`), else arXiv's DOI `10.48550/arXiv.ID`; an id cited inside running
    text is another paper and is not taken."""
    for line in (text or "").splitlines():
        m = _PREFIXED_RE.match(line.strip())
        if m and (m.group("arxiv")):
            return _from_match(m)
    for m in _ANY_DOI_RE.finditer(text or ""):
        pid = PaperId("doi", m.group(1).lower()).canonical
        if pid.kind == "arxiv":
            return pid
    return None


def kind_of(paper_id: str) -> str:
    pid = parse(paper_id)
    return pid.kind if pid else ""


def base_id(paper_id: str) -> str:
    """The stored id without its version suffix."""
    pid = parse(paper_id)
    return pid.base.stored if pid else paper_id


def version_of(paper_id: str) -> int:
    """The N of an arXiv `vN` suffix, 0 when the id has none."""
    pid = parse(paper_id)
    return pid.version if pid else 0


def citation_label(paper_id: str) -> str:
    """How answers cite a stored id: `arXiv:ID`, `doi:...`, `s2:...` or `local:...`."""
    pid = parse(paper_id)
    return pid.label if pid else str(paper_id)


def match_key(text: str) -> str:
    """The version-free comparison key of an id, or "" when `text` is not one."""
    pid = parse(text)
    return pid.key if pid else ""


def doi_of(text: str) -> str:
    """The bare lower-case DOI in a metadata field (`10.x/y`, `https://doi.org/10.x/y`), or ""."""
    pid = parse(f"doi:{text}") if text and not str(text).lower().startswith(("doi", "http")) else parse(text or "")
    return pid.value if pid and pid.kind == "doi" else ""


def aliases(meta: Mapping[str, Any]) -> list[str]:
    """Every stored id a paper is known by: its own, plus the DOI, arXiv id, S2 id, PMID and PMCID recorded on it."""
    out = [str(meta.get("id", ""))]
    if meta.get("doi"):
        out.append(f"doi:{meta['doi']}")
    if meta.get("arxiv_id"):
        out.append(str(meta["arxiv_id"]))
    if meta.get("s2_id"):
        out.append(f"s2:{meta['s2_id']}")
    if meta.get("pmid"):
        out.append(f"pmid:{meta['pmid']}")
    if meta.get("pmcid"):
        out.append(f"pmcid:{meta['pmcid']}")
    return [a for a in out if parse(a)]


def pmid_of(text: str) -> str:
    """The bare PMID in a metadata field (`12345678`, `pmid:12345678`), or ""."""
    pid = parse(text if str(text or "").lower().startswith(("pmid", "http")) else f"pmid:{text}")
    return pid.value if pid and pid.kind == "pmid" else ""


def pmcid_of(text: str) -> str:
    """The PMCID in a metadata field (`PMC1234567`, `1234567`, a PMC URL) as `PMC1234567`, or ""."""
    pid = parse(text if str(text or "").lower().startswith(("pmcid", "http")) else f"pmcid:{text}")
    return pid.value if pid and pid.kind == "pmcid" else ""
