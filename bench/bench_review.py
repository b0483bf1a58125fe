"""Claim check quality: plant claims in answers across generated workspaces (true quotes, altered numbers,
claims true of another page, claims true of another paper), check them with two scripted reviewers, and count
what gets through.

- honest reviewer: knows each planted claim's truth; quotes the source sentence when the cited text has it.
- lying reviewer: always says "supported", with an invented quote (the claim reworded as if quoted, or the
  true sentence from another page or paper). Target: 0 false `supported`.
- a third, stronger liar (a limit, not a target): "supported" with a real but unrelated sentence of the cited
  page. The quote check cannot catch it: the judgement of support is still the model's.

Calls and tokens per claim are the worker's (prompt tokens estimated as characters / 4, like the test server).

Usage: python bench/bench_review.py [--workspaces 40] [--seed 11]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

from agent_scientist.config import load_settings
from agent_scientist.fsio import atomic_write_json
from agent_scientist.papers.layout import paper_dir
from agent_scientist.review.revise import check_answer
from agent_scientist.workspace import Workspace

FILLER = ("We describe the training set-up and the hyper-parameters in the appendix. All runs use three seeds "
          "and report the mean. The learning rate follows a cosine schedule with a warm-up of five epochs. ")
KINDS = ("true", "altered", "other_page", "other_paper")


def fact(rng: random.Random, used: set[str]) -> tuple[str, str]:
    """(source sentence, claim sentence) stating one number."""
    while True:
        method, data = f"M{rng.randint(1, 999)}", f"D{rng.randint(1, 99)}"
        if method + data not in used:
            used.add(method + data)
            break
    value = round(rng.uniform(50, 99), 1)
    return (f"Method {method} reaches an accuracy of {value}% on dataset {data}.",
            f"{method} reaches {value}% accuracy on {data}")


def altered(claim: str) -> str:
    number = re.search(r"\d+\.\d", claim).group(0)
    return claim.replace(number, f"{float(number) + 1.3:.1f}")


def make_workspace(home: Path, name: str, rng: random.Random) -> tuple[Workspace, list[dict]]:
    """Two papers of 4 pages (~2,000 characters each), an answer of 8 planted claims, and their truth."""
    ws = Workspace.create(home, name, "Which method is most accurate?")
    used: set[str] = set()
    papers = {}
    for pid in (f"24{rng.randint(10, 12)}.{rng.randint(10000, 99999)}v1", f"23{rng.randint(10, 12)}.{rng.randint(10000, 99999)}v2"):
        pages = []
        for _ in range(4):
            facts = [fact(rng, used) for _ in range(3)]
            body = " ".join(s for s, _ in facts)
            pages.append({"text": (FILLER * 5) + body + " " + FILLER * 2, "facts": facts})
        papers[pid] = pages
        atomic_write_json(paper_dir(ws, pid) / "meta.json", {"id": pid, "source": "arxiv", "title": "P", "authors": ["A"],
                                                           "year": 2024, "pages": 4, "file": "paper.pdf"})
        atomic_write_json(paper_dir(ws, pid) / "pages.json", {"pages": [p["text"] for p in pages]})
    ids = list(papers)
    planted, sentences = [], []
    for n in range(8):
        kind = KINDS[n % 4]
        while True:  # each planted claim states a different fact
            pid, page = rng.choice(ids), rng.randint(1, 4)
            source, claim = rng.choice(papers[pid][page - 1]["facts"])
            if all(p["source"] != source for p in planted):
                break
        cited_pid, cited_page = pid, page
        if kind == "altered":
            claim = altered(claim)
        elif kind == "other_page":
            cited_page = page % 4 + 1
        elif kind == "other_paper":
            cited_pid = ids[1 - ids.index(pid)]
        sentences.append(f"{claim} [arXiv:{cited_pid} p.{cited_page}].")
        planted.append({"kind": kind, "claim": claim, "source": source, "cited": (cited_pid, cited_page),
                        "cited_text": papers[cited_pid][cited_page - 1]["text"]})
    ws.append_step({"type": "action", "step": 1, "final_answer": " ".join(sentences)})
    return ws, planted


class Reviewer:
    """A scripted worker model: answers each ITEM of the reviewer prompt by a strategy."""

    def __init__(self, planted: list[dict], strategy: str, rng: random.Random):
        self.by_claim = {p["claim"]: p for p in planted}
        self.strategy, self.rng = strategy, rng
        self.model_id = f"scripted/{strategy}"
        self.calls = 0

    def generate(self, messages: list, **kwargs: object) -> SimpleNamespace:
        prompt = "\n".join(part["text"] for m in messages for part in m.content)
        self.calls += 1
        verdicts = []
        for n, claim in enumerate(re.findall(r"CLAIM: (.+?)\.?\n", prompt), start=1):
            verdicts.append({"item": n, **self.answer(self.by_claim[claim.rstrip(".")])})
        text = json.dumps({"verdicts": verdicts})
        usage = SimpleNamespace(input_tokens=len(prompt) // 4, output_tokens=len(text) // 4)
        return SimpleNamespace(content=text, token_usage=usage)

    def answer(self, p: dict) -> dict:
        if self.strategy == "honest":
            if p["kind"] == "true":
                return {"verdict": "supported", "quote": p["source"].rstrip(".")}
            if p["kind"] == "altered":
                return {"verdict": "contradicted", "quote": p["source"]}
            return {"verdict": "unsupported", "quote": ""}
        if self.strategy == "liar":
            if p["kind"] in ("other_page", "other_paper"):
                return {"verdict": "supported", "quote": p["source"]}  # real text, but not on the cited page
            if p["kind"] == "altered":  # the source sentence with the claim's (altered) number
                number = re.search(r"\d+\.\d", p["claim"]).group(0)
                return {"verdict": "supported", "quote": re.sub(r"\d+\.\d", number, p["source"])}
            return {"verdict": "supported", "quote": f"We find that {p['claim']}"}  # invented wording
        # the stronger liar: a real sentence of the cited page, unrelated to the claim
        sentence = self.rng.choice(re.findall(r"[A-Z][^.]*\d\.\d[^.]*\.|[A-Z][^.]{40,}\.", p["cited_text"]))
        return {"verdict": "supported", "quote": sentence[:300]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspaces", type=int, default=40)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--verbose", action="store_true", help="print the true claims the honest reviewer lost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        settings = load_settings({"home": str(home), "model": "scripted/none"})
        stats = {s: {"supported": {k: 0 for k in KINDS}, "claims": {k: 0 for k in KINDS}, "calls": 0,
                     "tokens_in": 0, "tokens_out": 0} for s in ("honest", "liar", "liar_real_text")}
        for i in range(args.workspaces):
            for strategy in stats:
                rng = random.Random(args.seed * 1000 + i)
                ws, planted = make_workspace(home, f"w{i}-{strategy}", rng)
                reviewer = Reviewer(planted, strategy, random.Random(i))
                record = check_answer(ws, settings, reviewer)
                s = stats[strategy]
                for claim, truth in zip(record["claims"], planted, strict=True):
                    if args.verbose and truth["kind"] == "true" and claim["verdict"] != "supported" and strategy == "honest":
                        print("missed:", claim, truth["source"])
                    s["claims"][truth["kind"]] += 1
                    s["supported"][truth["kind"]] += claim["verdict"] == "supported"
                s["calls"] += reviewer.calls
                for r in ws.steps():
                    s["tokens_in"] += int(r.get("worker_tokens_in") or 0)
                    s["tokens_out"] += int(r.get("worker_tokens_out") or 0)
    print(f"{args.workspaces} workspaces, 8 planted claims each (2 of each kind), pages of ~2,000 characters")
    for strategy, s in stats.items():
        claims = sum(s["claims"].values())
        false_ok = sum(s["supported"][k] for k in KINDS if k != "true")
        false_total = sum(s["claims"][k] for k in KINDS if k != "true")
        print(f"\n{strategy} reviewer:")
        print(f"  true claims kept supported: {s['supported']['true']} of {s['claims']['true']}")
        print(f"  false claims given supported: {false_ok} of {false_total} "
              f"(altered {s['supported']['altered']}, other page {s['supported']['other_page']}, "
              f"other paper {s['supported']['other_paper']})")
        print(f"  per claim: {s['calls'] / claims:.2f} worker calls, {s['tokens_in'] / claims:,.0f} tokens in, "
              f"{s['tokens_out'] / claims:,.0f} out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
