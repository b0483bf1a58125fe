"""Citation verification quality: plant known good and fake citations in answers across many generated
workspaces, export them, and count fakes that slip through (target 0) and good ones dropped (target 0).

Usage: python bench/bench_citations.py [--workspaces 300] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from agent_scientist.fsio import atomic_write_json
from agent_scientist.papers.layout import paper_dir
from agent_scientist.report import render
from agent_scientist.workspace import Workspace

FILLER = ["The effect is robust.", "We observe a small gain.", "Results vary with the seed.",
          "This matches the ablation.", "The baseline is strong.", "Calibration improves."]


def new_id(rng: random.Random) -> str:
    return f"{rng.randint(10, 25):02d}{rng.randint(1, 12):02d}.{rng.randint(0, 99999):05d}"


def make_papers(ws: Workspace, rng: random.Random) -> list[dict]:
    papers = []
    for i in range(rng.randint(0, 6)):
        old = rng.random() < 0.2
        base = f"hep-th/{rng.randint(9000000, 9999999)}" if old else new_id(rng)
        pid = f"{base}v{rng.randint(1, 4)}"
        if i == 0 and rng.random() < 0.3:
            pid = f"local:{rng.getrandbits(32):08x}"
        pages = rng.randint(1, 40)
        meta = {"id": pid, "source": "local" if pid.startswith("local:") else "arxiv", "title": f"Paper {i}",
                "authors": [f"Author {i}"], "published": "", "year": 2020 + i, "categories": ["cs.LG"],
                "primary_category": "cs.LG", "abstract": "", "pdf_url": "", "abs_url": "", "file": "paper.pdf",
                "pages": pages, "added_at": "2026-01-01T00:00:00+00:00"}
        atomic_write_json(paper_dir(ws, pid) / "meta.json", meta)
        papers.append(meta)
    return papers


def good_citation(rng: random.Random, paper: dict) -> tuple[str, tuple[int, int] | None]:
    """A correct citation of `paper` in one of the accepted forms, and the pages it names."""
    pid = paper["id"]
    local = pid.startswith("local:")
    base = re.sub(r"v\d+$", "", pid)
    ident = pid if local else rng.choice([f"arXiv:{pid}", f"arXiv:{base}", f"arxiv:{base}",
                                          f"https://arxiv.org/abs/{pid}"])
    n = paper["pages"]
    form = rng.randint(0, 4)
    if form == 0:
        return ident, None
    first = rng.randint(1, n)
    if form == 1:
        return f"{ident} p.{first}", (first, first)
    if form == 4:  # the label read_paper prints above a page: page N of n
        return f"{ident} p.{first}/{n}", (first, first)
    last = rng.randint(first, n)
    return (f"{ident}, p. {first}-{last}" if form == 2 else f"{ident} pp.{first}–{last}"), (first, last)


def fake_citation(rng: random.Random, papers: list[dict], held: set[str]) -> str:
    """A citation the workspace cannot back: unknown or near-miss id, page past the end, bad range, foreign."""
    arxiv = [p for p in papers if not p["id"].startswith("local:")]
    kind = rng.randint(0, 6)
    if kind == 0 or not arxiv:
        while True:
            pid = new_id(rng)
            if pid not in held:
                return f"arXiv:{pid}" + (f" p.{rng.randint(1, 9)}" if rng.random() < 0.5 else "")
    paper = rng.choice(arxiv)
    base = re.sub(r"v\d+$", "", paper["id"])
    if kind == 1:  # near miss: one digit changed
        while True:
            i = rng.choice([k for k, c in enumerate(base) if c.isdigit()])
            cand = base[:i] + str((int(base[i]) + rng.randint(1, 9)) % 10) + base[i + 1:]
            if cand not in held:
                return f"arXiv:{cand}"
    if kind == 2:
        return f"arXiv:{base} p.{paper['pages'] + rng.randint(1, 50)}"
    if kind == 3:
        return f"arXiv:{base}, p. {rng.randint(1, paper['pages'])}-{paper['pages'] + rng.randint(1, 9)}"
    if kind == 4:
        return f"arXiv:{base} p.0"
    if kind == 5:
        return f"local:{rng.getrandbits(32):08x}"
    return rng.choice(["Smith et al., 2020", "doi:10.1000/xyz123", "Vaswani and Shazeer 2017"])


def one_workspace(home: Path, n: int, rng: random.Random) -> tuple[int, int, int, int]:
    """(good planted, good dropped, fakes planted, fakes slipped) for one generated workspace."""
    ws = Workspace.create(home, f"ws{n}", f"Question {n}?")
    papers = make_papers(ws, rng)
    held = {re.sub(r"v\d+$", "", p["id"]) for p in papers}
    expected: list[tuple[bool, str, tuple[int, int] | None]] = []
    pieces = []
    for _ in range(rng.randint(3, 12)):
        if rng.random() < 0.15:  # outside brackets: a bare arXiv:ID or a markdown link to arxiv.org
            paper = rng.choice(papers) if papers and rng.random() < 0.6 else None
            if paper is not None and paper["id"].startswith("local:"):
                paper = None
            pid = paper["id"] if paper else next(i for i in iter(lambda: new_id(rng), None) if i not in held)
            good, pages = paper is not None, None
            cite = rng.choice([f"arXiv:{pid}", f"[this paper](https://arxiv.org/abs/{pid})", f"https://arxiv.org/pdf/{pid}"])
            if cite.startswith("arXiv:") and paper is not None and rng.random() < 0.5:  # a bare id with a page
                page = rng.randint(1, paper["pages"]) if rng.random() < 0.6 else paper["pages"] + rng.randint(1, 9)
                good, pages = page <= paper["pages"], (page, page)
                cite += rng.choice([f" p.{page}", f", p. {page}"])
            expected.append((good, paper["id"] if good else "", pages if good else None))
            pieces.append(f"{rng.choice(FILLER)} See {cite}.")
            continue
        group = []
        for _ in range(rng.randint(1, 3)):
            if papers and rng.random() < 0.6:
                paper = rng.choice(papers)
                text, pages = good_citation(rng, paper)
                expected.append((True, paper["id"], pages))
            else:
                text = fake_citation(rng, papers, held)
                expected.append((False, "", None))
            group.append(text)
        pieces.append(f"{rng.choice(FILLER)} [{'; '.join(group)}]")
    ws.append_step({"type": "action", "step": 1, "final_answer": " ".join(pieces)})
    report = render(ws, [])
    occs = report.index.occurrences
    assert len(occs) == len(expected), (n, len(occs), len(expected))
    good = sum(1 for e in expected if e[0])
    dropped = sum(1 for e, o in zip(expected, occs, strict=True)
                  if e[0] and not (o.verified and o.paper_id == e[1] and o.pages == e[2]))
    slipped = sum(1 for e, o in zip(expected, occs, strict=True) if not e[0] and o.verified)
    answer = report.text[report.text.index("## Answer"):report.text.index("## Key findings")]
    cited_numbers = {int(x) for x in re.findall(r"\]\(#ref-(\d+)\)", answer)}
    refs = report.text[report.text.index("## References"):]
    listed = {int(x) for x in re.findall(r"^(\d+)\. <a id=", refs, re.M)}
    assert cited_numbers == listed, (n, cited_numbers, listed)  # no number without a listed paper
    return good, dropped, len(expected) - good, slipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    totals = [0, 0, 0, 0]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.workspaces):
            for i, value in enumerate(one_workspace(Path(tmp), n, rng)):
                totals[i] += value
    elapsed = time.perf_counter() - start
    good, dropped, fakes, slipped = totals
    print(f"workspaces: {args.workspaces} (seed {args.seed}), {elapsed / args.workspaces * 1000:.1f} ms each "
          "to build and render")
    print(f"good citations planted: {good}, wrongly dropped: {dropped} (target 0)")
    print(f"fake citations planted: {fakes}, slipped through: {slipped} (target 0)")
    return 0 if dropped == 0 and slipped == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
