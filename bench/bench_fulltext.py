"""Europe PMC full text -> pages: the share of the article's words kept in the pages (target >= 99%) and pages
per second, on generated JATS articles (tests/support/europepmc_server.py) of growing size. Baseline in the same
run: ElementTree parsing alone (the floor any paging pays)."""

from __future__ import annotations

import argparse
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.europepmc_server import PmcPaper, jats  # noqa: E402

from agent_scientist.papers import jats as paging  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    print(f"{'paragraphs/section':>18} {'KB':>6} {'pages':>6} {'words kept':>10} {'pages/s':>9} {'parse-only ms':>13}"
          f" {'paging ms':>9}")
    for paras in (2, 8, 32, 128):
        data = jats(PmcPaper("PMC1", "Kinase control of the yeast cell cycle", abstract="We study kinases.",
                             paragraphs=paras, facts={"Results": "Cdc28 doubles."}))
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            ET.fromstring(data)
        parse_ms = (time.perf_counter() - t0) / args.repeat * 1000
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            paged = paging.parse(data)
        page_ms = (time.perf_counter() - t0) / args.repeat * 1000
        source = Counter(paging.source_text(data).split())
        kept = Counter(" ".join(paged.pages).split())
        share = sum((source & kept).values()) / sum(source.values())
        print(f"{paras:>18} {len(data) / 1000:>6.0f} {len(paged.pages):>6} {share:>10.2%} "
              f"{len(paged.pages) / (page_ms / 1000):>9.0f} {parse_ms:>13.2f} {page_ms:>9.2f}")


if __name__ == "__main__":
    main()
