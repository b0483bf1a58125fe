"""The one paper-id grammar: parse, normalise, version, label, storage key and the pattern for ids in text.

Every other module (tools, report, memory, history trimming, workspace) asks this one; adding an id kind
is a change here only. Forms, as stored in meta.json / as cited:

  arXiv   `2401.01234v2`, `hep-th/9901001`, `math.GT/0309136`    cited `arXiv:2401.01234v2`
  DOI     `doi:10.1093/mind/lix.236.433` (lower-cased)           cited the same
  S2      `s2:<40 hex>` (Semantic Scholar paperId, lower-cased)  cited the same
  local   `local:<6-64 hex>` (prefix of the PDF's sha256)       cited the same

Rules where the earlier copies disagreed (the stricter reading that still accepts every real id):
old-style arXiv archives are lower case letters with at most one hyphen (`HEP-TH/9901001` is refused),
the subject class is two letters written upper case (`math.gt/...` becomes `math.GT/...`); the version
suffix `V3` becomes `v3`; local ids are hex only (6-64 digits), lower-cased; prefixes (`arXiv:`, `doi:`,
`s2:`, `local:`) are case-insensitive and may be followed by spaces; a DOI in text ends at white space,
`;`, `,`, a bracket or a quote, and never ends with `.` or `)`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_NEW = r"\d{4}\.\d{4,5}"
_OLD = r"(?-i:[a-z]+(?:-[a-z]+)?)(?:\.[A-Za-z]{2})?/\d{7}"
_VERSION = r"(?:[vV]\d+)?"
_ARXIV_URL = r"(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/"
_DOI_URL = r"(?:https?://)?(?:dx\.)?doi\.org/"
_DOI = r"10\.\d{4,9}/[^\s\[\]<>\"';,]*[^\s\[\]<>\"';,.)]"
_HEX40 = r"[0-9a-fA-F]{40}"
_LOCAL = r"[0-9a-fA-F]{6,64}"

# One id anywhere in free text (answers, notes, history). Groups: arxiv, doi, s2, local.
ID_PATTERN = (
    rf"(?:(?:arxiv\s*:\s*|{_ARXIV_URL})(?P<arxiv>(?:{_NEW}|{_OLD}){_VERSION})(?:\.pdf)?(?![\w/]|\.\d)"
    rf"|(?<![\w/.])(?P<bare>(?:{_NEW}|{_OLD}){_VERSION})(?![\w/]|\.\d)"
    rf"|(?:\bdoi\s*:\s*|{_DOI_URL})(?P<doi>{_DOI})"
    rf"|\bs2\s*:\s*(?P<s2>{_HEX40})(?![0-9a-zA-Z])"
    rf"|\blocal\s*:\s*(?P<local>{_LOCAL})(?![0-9a-zA-Z]))"
)
ID_RE = re.compile(ID_PATTERN, re.I)
# The start of a citation attempt in a bracket: any id form (prefix, URL or bare arXiv id).
PREFIX_RE = re.compile(rf"\s*(?:arxiv\s*:|doi\s*:|s2\s*:|local\s*:|{_ARXIV_URL}|{_DOI_URL})", re.I)
ID_FORMS = ("2401.01234, 2401.01234v2, arXiv:2401.01234, https://arxiv.org/abs/2401.01234, "
            "doi:10.1093/mind/lix.236.433, s2:<40-hex Semantic Scholar id>, or a local id such as local:ab12cd34")
KINDS = ("arxiv", "doi", "s2", "local")


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
    def key(self) -> str:
        """Version-free, case-free key to compare ids (what memory stores as `paper_base`)."""
        return self.base.value.lower() if self.kind == "arxiv" else self.stored.lower()


def _from_match(m: re.Match) -> PaperId:
    arxiv = m.group("arxiv") or m.group("bare")
    if arxiv:
        base, version = re.fullmatch(r"(.+?)([vV]\d+)?", arxiv).groups()  # type: ignore[union-attr]
        if "/" in base:
            archive, number = base.split("/", 1)
            name, _, cls = archive.partition(".")
            base = f"{name}.{cls.upper()}/{number}" if cls else f"{name}/{number}"
        return PaperId("arxiv", base + (version or "").lower())
    for kind in ("doi", "s2", "local"):
        if m.group(kind):
            return PaperId(kind, m.group(kind).lower())
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


def find_ids(text: str) -> list[PaperId]:
    """Every id in free text, in order."""
    return [_from_match(m) for m in ID_RE.finditer(text or "")]


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


def storage_key(paper_id: str) -> str:
    """The folder name of a paper under papers/ (arXiv and local keys as the first landing wrote them)."""
    pid = parse(paper_id)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", pid.stored if pid else str(paper_id))
    if pid is None or pid.kind not in ("doi",):
        return safe
    digest = hashlib.sha256(pid.value.encode()).hexdigest()[:8]
    return f"{safe[:80]}-{digest}"  # DOIs may be long and differ only in characters made `_`


def doi_of(text: str) -> str:
    """The bare lower-case DOI in a metadata field (`10.x/y`, `https://doi.org/10.x/y`), or ""."""
    pid = parse(f"doi:{text}") if text and not str(text).lower().startswith(("doi", "http")) else parse(text or "")
    return pid.value if pid and pid.kind == "doi" else ""


def aliases(meta: dict) -> list[str]:
    """Every stored id a paper is known by: its own, plus the DOI, arXiv id and S2 id recorded on it."""
    out = [str(meta.get("id", ""))]
    if meta.get("doi"):
        out.append(f"doi:{meta['doi']}")
    if meta.get("arxiv_id"):
        out.append(str(meta["arxiv_id"]))
    if meta.get("s2_id"):
        out.append(f"s2:{meta['s2_id']}")
    return [a for a in out if parse(a)]
