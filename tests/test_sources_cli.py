"""End to end through the CLI (real subprocesses) with the scripted planner: search across sources, follow
the graph, read a DOI-only open-access paper by page, cite it, export; a retracted paper flagged; the
"may have missed" section; then resume and export offline from the cache."""

from __future__ import annotations

import json

from conftest import cli_env
from support import pdfs
from support.arxiv_server import ArxivServer, entry
from support.openai_server import ChatServer
from support.scholar_server import ScholarServer, Work
from support.scripted import code

A, B, C, F = ("a" * 40, "b" * 40, "c" * 40, "f" * 40)
DOI_A, DOI_B, DOI_C = "10.1000/widgets.2024", "10.1093/mind/lix.236.433", "10.5555/retracted.1"
MODEL, WORKER = "openai/gpt-4o-mini", "openai/worker"


def test_research_across_sources_then_offline(home, cli) -> None:
    arxiv = ArxivServer([entry("2401.00001v2", "Sparse widgets improve gadget accuracy", published="2024-01-03",
                               pdf=pdfs.make_paper(4))]).start()
    scholar = ScholarServer([
        Work(A, "Sparse widgets improve gadget accuracy", 2024, doi=DOI_A, arxiv="2401.00001", venue="NeurIPS",
             citations=40, kind="proceedings-article", references=[B, C, F]),
        Work(B, "Computing widgets and intelligence", 1950, doi=DOI_B, venue="Mind", citations=9000,
             pdf=pdfs.make_paper(3, salt="mind"), references=[F], kind="journal-article"),
        Work(C, "A retracted study of widgets", 2021, doi=DOI_C, citations=3, retracted=True, references=[A],
             contexts={A: ["We could not reproduce the widget gains."]}),
        Work(F, "Foundations of widget theory", 1940, doi="10.2000/foundations", venue="Annals", citations=700),
    ]).start()
    env = cli_env(home, **arxiv.env(), **scholar.env(),
                  AGENT_SCIENTIST_PAPER_SOURCES="arxiv,semantic_scholar,openalex")
    offline = env  # the same settings once the servers are gone: connections are refused
    try:
        found = cli("papers", "search", "widgets", "--json", env=env)
        assert found.returncode == 0, found.stderr
        by_id = {r["id"]: r for r in json.loads(found.stdout)}
        assert by_id["2401.00001v2"]["sources"] == ["arxiv", "semantic_scholar", "openalex"]
        assert by_id[f"doi:{DOI_C}"]["retracted"].startswith("RETRACTED")
        only = cli("papers", "search", "widgets", "--source", "openalex", env=env)
        assert only.returncode == 0 and "openalex" in only.stdout and "semantic_scholar" not in only.stdout
        cites = cli("papers", "graph", "2401.00001", "--direction", "citations", env=env)
        assert cites.returncode == 0 and "We could not reproduce the widget gains." in cites.stdout

        answer = (f"Widgets help [arXiv:2401.00001 p.2; doi:{DOI_B} p.2], although [doi:{DOI_C}] disagrees.")
        script = [
            code('r = search_papers("widgets")\nprint([x.get("id") for x in r])'),
            code(f'print(paper_graph("2401.00001"))\nprint(paper_graph("doi:{DOI_B}"))\n'
                 'print(paper_graph("2401.00001", direction="citations"))'),
            code(f'print(read_paper("doi:{DOI_B}", page=2))\nprint(read_paper("2401.00001", page=2))\n'
                 f'print(read_paper("doi:{DOI_C}"))'),
            code(f"final_answer({answer!r})"),
        ]
        with ChatServer(script) as server:
            run = cli("research", "Do widgets help?", "--name", "w", "--model", MODEL, "--worker-model", WORKER,
                      "--api-base", server.url, "--quiet", env=env, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        observed = "\n".join(json.dumps(r) for r in _steps(home))
        assert f"[doi:{DOI_B} p.2/3]" in observed and "RETRACTED: do not rely on it" in observed
    finally:
        arxiv.stop()
        scholar.stop()

    exported = cli("export", "w", env=offline)
    assert exported.returncode == 0, exported.stderr
    report = (home / "w" / "report.md").read_text()
    assert "[2, p.2](#ref-2)" in report and "[3](#ref-3) (RETRACTED)" in report
    assert "**RETRACTED: do not rely on it.**" in report and f"(https://doi.org/{DOI_B})" in report
    assert "## What you may have missed" in report and "Foundations of widget theory" in report
    bib = cli("export", "w", "--format", "bibtex", "--output", str(home / "w.bib"), env=offline)
    assert bib.returncode == 0 and "@article{" in (home / "w.bib").read_text()

    page = cli("papers", "read", f"doi:{DOI_B}", "--page", "1", "--name", "w", env=offline)
    assert page.returncode == 0 and page.stdout.startswith(f"[doi:{DOI_B} p.1/3]")
    again = cli("papers", "graph", "2401.00001", "--name", "w", "--json", env=offline)
    assert again.returncode == 0 and json.loads(again.stdout)[0]["id"] == f"doi:{DOI_B}"
    with ChatServer([code(f'print(read_paper("doi:{DOI_B}", page=3))\nprint(paper_graph("2401.00001"))'),
                     code(f"final_answer({answer!r})")]) as server:
        resumed = cli("resume", "w", "--instruction", "Check page 3.", "--api-base", server.url, "--quiet",
                      env=offline, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"[doi:{DOI_B} p.3/3]" in "\n".join(json.dumps(r) for r in _steps(home))


def _steps(home) -> list[dict]:
    from agent_scientist.workspace import Workspace

    return Workspace.open(home, "w").steps()
