"""Europe PMC (search, JATS full text paged with § headers), Unpaywall (the best open-access PDF of a DOI) and the
read chain, through the real client code against loopback servers in each service's format, and the CLI."""

from __future__ import annotations

import json

import pytest
from conftest import cli_env
from support import pdfs
from support.europepmc_server import EuropePmcServer, PmcPaper, jats
from support.openai_server import ChatServer
from support.report_ws import add_step
from support.review_ws import verdicts
from support.scholar_server import ScholarServer, Work
from support.scripted import code
from support.unpaywall_server import OaRecord, UnpaywallServer

from agent_scientist.config import Settings
from agent_scientist.papers import fetch
from agent_scientist.papers import jats as jats_mod
from agent_scientist.papers.layout import paper_dir
from agent_scientist.papers.sources import europepmc, registry
from agent_scientist.papers.sources.base import Query
from agent_scientist.workspace import Workspace

PMC = "PMC3320746"
FACT = "Cdc28 kinase activity doubles in mutant cells."
YEAST = PmcPaper(PMC, "Kinase control of the yeast cell cycle", doi="10.1371/journal.pbio.1001", pmid="22505000",
                 abstract="We study kinase control of the yeast cell cycle.", facts={"Results": FACT})
RETRACTED = PmcPaper("PMC999", "Kinase miracle in yeast", pub_types=["Journal Article", "Retracted Publication"],
                     full_text=False)
MODEL, WORKER = "openai/gpt-4o-mini", "openai/worker"
N = len(jats_mod.parse(jats(YEAST)).pages)  # pages of YEAST's full text


def _settings(server: EuropePmcServer) -> Settings:
    return Settings(europepmc_api_url=server.base, http_timeout=5)


def test_jats_pages_keep_sections_captions_cells_and_references() -> None:
    data = jats(YEAST)
    paged = jats_mod.parse(data)
    text = "\n".join(paged.pages)
    assert FACT in text and "We study kinase control" in text
    assert "Figure 1 Kinase activity over time. Activity peaks at 30 min in mutant cells." in text
    assert "Strain | Rate (h-1)" in text and "cdc28-4 | 0.17" in text and "Means of three cultures." in text
    assert paged.references[0] == "[1] Hartwell L Cell cycle control 1 Science 1971"
    assert [c["text"][:8] for c in paged.captions] == ["Figure 1", "Table 1 "]
    assert len(paged.sections) == len(paged.pages) > 1 and paged.sections[0].startswith("Abstract")
    results_page = next(n for n, p in enumerate(paged.pages) if FACT in p)
    assert "Results" in paged.sections[results_page]
    assert {o["title"] for o in paged.outline} >= {"Introduction", "Methods", "Results", "Discussion", "References"}


def test_jats_refuses_entities_and_non_articles() -> None:
    with pytest.raises(jats_mod.JatsError, match="entities"):
        jats_mod.parse(b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xx">]><article>&x;</article>')
    with pytest.raises(jats_mod.JatsError, match="not a JATS article"):
        jats_mod.parse(b"<html><body>hi</body></html>")
    with pytest.raises(jats_mod.JatsError, match="not well-formed"):
        jats_mod.parse(b"The requested resource does not exist.")


def test_search_records_retractions_retries_and_errors() -> None:
    assert "europepmc" in registry.names()
    with EuropePmcServer([YEAST, RETRACTED]) as server:
        source = registry.get("europepmc")
        works, total = source.search(_settings(server), Query("kinase yeast", size=5))
        assert total == 2
        by_title = {w["title"]: w for w in works}
        yeast = by_title["Kinase control of the yeast cell cycle"]
        assert yeast["id"] == f"doi:{YEAST.doi}" and yeast["pmcid"] == PMC and yeast["pmid"] == "22505000"
        assert yeast["venue"] == "PLoS Biology" and yeast["year"] == 2012 and not yeast["retracted"]
        assert by_title["Kinase miracle in yeast"]["retracted"] and by_title["Kinase miracle in yeast"]["id"] == "pmcid:PMC999"
        dated = source.search(_settings(server), Query("kinase", size=5, start_date="2013-01-01"))
        assert dated == ([], 0) and "FIRST_PDATE:[2013-01-01 TO 3000-12-31]" in server.requests[-1].replace("%3A", ":").replace("%5B", "[").replace("%5D", "]").replace("+", " ")
        server.fail("429")  # answered with a plain-text body, then retried
        assert source.search(_settings(server), Query("kinase", size=1))[1] == 2
        server.fail("500", "500", "500", "500")
        with pytest.raises(fetch.FetchError, match="HTTP 500"):
            source.search(_settings(server), Query("kinase", size=1))
        server.script.clear()
        with pytest.raises(fetch.FetchError) as missing:
            europepmc.full_text_xml(_settings(server), "PMC999")
        assert missing.value.kind == "not_found"


def test_read_a_pmc_paper_through_the_cli(home, cli) -> None:
    assert cli("init", "w").returncode == 0
    with EuropePmcServer([YEAST]) as server:
        env = cli_env(home, **server.env())
        first = cli("papers", "read", f"pmcid:{PMC}", "--name", "w", env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith(f"[pmcid:{PMC} overview]") and "Europe PMC full text" in first.stdout
        page = cli("papers", "read", f"pmcid:{PMC}", "--page", "2", "--name", "w", env=env)
    assert page.returncode == 0, page.stderr
    assert page.stdout.startswith(f"[pmcid:{PMC} p.2/{N} §")
    folder = paper_dir(Workspace.open(home, "w"), f"pmcid:{PMC}")
    assert (folder / "paper.xml").is_file() and not (folder / "paper.pdf").exists()
    stored = json.loads((folder / "pages.json").read_text())
    assert len(stored["sections"]) == N > 2 and stored["references"]
    fig_page = next(c["page"] for c in stored["captions"] if c["text"].startswith("Figure 1"))
    offline = cli("papers", "read", f"pmcid:{PMC}", "--page", str(fig_page), "--name", "w", env=cli_env(home))
    assert offline.returncode == 0 and "Figure 1 Kinase activity" in offline.stdout  # from the cache


def test_a_doi_whose_only_open_copy_is_found_through_unpaywall(home, cli) -> None:
    assert cli("init", "w").returncode == 0 and cli("init", "w2").returncode == 0
    doi, landing = "10.5555/oa.only", "10.5555/landing.only"
    scholar = ScholarServer([Work("d" * 40, "Widget kinases in yeast", 2019, doi=doi),
                             Work("e" * 40, "Landing page widgets", 2019, doi=landing)]).start()
    try:
        with UnpaywallServer([OaRecord(doi, "Widget kinases in yeast", pdf=pdfs.make_paper(3, salt="oa")),
                              OaRecord(landing, "Landing page widgets", landing_only=True)]) as up, \
                EuropePmcServer([]) as epmc:
            env = cli_env(home, **scholar.env(), **up.env(), **epmc.env(),
                          AGENT_SCIENTIST_PAPER_SOURCES="semantic_scholar,openalex")
            read = cli("papers", "read", f"doi:{doi}", "--name", "w", env=env)
            assert read.returncode == 0, read.stderr
            assert "open-access PDF via Unpaywall" in read.stdout and "Pages: 3" in read.stdout
            assert any("email=lab%40example.org" in r for r in up.requests)
            page = cli("papers", "read", f"doi:{doi}", "--page", "2", "--name", "w", env=env)
            assert page.returncode == 0 and page.stdout.startswith(f"[doi:{doi} p.2/3]")

            only = cli("papers", "read", f"doi:{landing}", "--name", "w", env=env)
            assert only.returncode == 0, only.stderr
            assert "only a landing page without a PDF" in only.stdout and "No full text" in only.stdout
            assert not any(r.startswith("/landing/") for r in up.requests)  # never downloaded
            ws = Workspace.open(home, "w")
            assert not (paper_dir(ws, f"doi:{landing}") / "paper.pdf").exists()

            no_email = cli("papers", "read", f"doi:{landing}", "--name", "w2",
                           env={**env, "AGENT_SCIENTIST_CONTACT_EMAIL": ""})
            assert no_email.returncode == 0 and "Unpaywall not asked" in no_email.stdout
    finally:
        scholar.stop()


def test_a_pdf_url_that_answers_html_is_a_landing_page_not_a_paper(home, cli) -> None:
    assert cli("init", "w").returncode == 0
    doi = "10.5555/html.pdf"
    scholar = ScholarServer([Work("a" * 40, "Html widgets", 2019, doi=doi)]).start()
    try:
        with UnpaywallServer([OaRecord(doi, "Html widgets", pdf_is_html=True)]) as up, EuropePmcServer([]) as epmc:
            env = cli_env(home, **scholar.env(), **up.env(), **epmc.env(), AGENT_SCIENTIST_PAPER_SOURCES="openalex")
            read = cli("papers", "read", f"doi:{doi}", "--name", "w", env=env)
    finally:
        scholar.stop()
    assert read.returncode == 0, read.stderr
    assert "is a landing page (HTML), not a PDF; not stored" in read.stdout
    assert not (paper_dir(Workspace.open(home, "w"), f"doi:{doi}") / "paper.pdf").exists()


def test_a_doi_read_through_europe_pmc_full_text(home, cli) -> None:
    assert cli("init", "w").returncode == 0
    scholar = ScholarServer([Work("b" * 40, YEAST.title, 2012, doi=YEAST.doi)]).start()
    try:
        with UnpaywallServer([]) as up, EuropePmcServer([YEAST]) as epmc:
            env = cli_env(home, **scholar.env(), **up.env(), **epmc.env(), AGENT_SCIENTIST_PAPER_SOURCES="openalex")
            read = cli("papers", "read", f"doi:{YEAST.doi}", "--name", "w", env=env)
            again = cli("papers", "read", f"pmcid:{PMC}", "--page", "1", "--name", "w", env=cli_env(home))
    finally:
        scholar.stop()
    assert read.returncode == 0, read.stderr
    assert read.stdout.startswith(f"[pmcid:{PMC} overview]") and "Europe PMC full text" in read.stdout
    assert again.returncode == 0 and again.stdout.startswith(f"[pmcid:{PMC} p.1/{N} §Abstract")


def test_a_research_run_cites_a_pmc_page_and_the_report_verifies_it(home, cli) -> None:
    paged = jats_mod.parse(jats(YEAST))
    page = 1 + next(n for n, p in enumerate(paged.pages) if FACT in p)
    answer = f"Cdc28 kinase activity doubles in mutant cells [pmcid:{PMC} p.{page}]."
    script = [code(f'print(read_paper("pmcid:{PMC}", page={page}))'), code(f"final_answer({answer!r})")]
    with EuropePmcServer([YEAST]) as epmc, \
            ChatServer(script, worker_script=[verdicts(("supported", FACT))],
                       worker_default=verdicts(("supported", FACT))) as chat:
        env = cli_env(home, **epmc.env(), AGENT_SCIENTIST_REVIEW_ROUNDS="1")
        run = cli("research", "Does Cdc28 activity change?", "--name", "w", "--model", MODEL, "--worker-model",
                  WORKER, "--api-base", chat.url, "--quiet", env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    steps = "\n".join(json.dumps(r, ensure_ascii=False) for r in Workspace.open(home, "w").steps())
    assert f"[pmcid:{PMC} p.{page}/{N} §" in steps
    claims = [r for r in Workspace.open(home, "w").steps() if r.get("type") == "claim_check"]
    assert [(v["paper_id"], v["found_page"], v["verdict"]) for r in claims for v in r["verdicts"]] == [
        (f"pmcid:{PMC}", page, "supported")]
    report = (home / "w" / "report.md").read_text()
    assert f"[[1, p.{page}](#ref-1)] [✓](#claim-1)" in report and "Appendix: unverified citations" not in report
    assert PMC in report
    [reference] = [line for line in report.splitlines() if 'id="ref-1"' in line]
    assert f"PubMed Central [{PMC}](https://pmc.ncbi.nlm.nih.gov/articles/{PMC}/)" in reference
    assert "Local file" not in reference


def test_update_finds_a_new_paper_and_a_new_retraction_with_no_model(home, cli) -> None:
    earlier = PmcPaper("PMC2000", "Kinase timing in budding yeast", year=2011, doi="10.1000/kt.2011", full_text=False)
    with EuropePmcServer([YEAST, earlier]) as server:
        env = cli_env(home, **server.env(), AGENT_SCIENTIST_PAPER_SOURCES="europepmc")
        assert cli("init", "w").returncode == 0
        found = cli("papers", "search", "kinase yeast", "--name", "w", "--json", env=env)
        assert found.returncode == 0 and "Kinase timing in budding yeast" in found.stdout, found.stderr
        assert cli("papers", "read", f"doi:{earlier.doi}", "--name", "w", env=env).returncode == 0
        server.papers.append(PmcPaper("PMC3000", "Kinase waves in yeast", year=2031, doi="10.1000/kw.2031"))
        earlier.pub_types.append("Retracted Publication")
        done = cli("update", "w", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "1 new paper(s)" in done.stdout and "doi:10.1000/kw.2031" in done.stdout
        assert f"doi:{earlier.doi} is now retracted (per Europe PMC)" in done.stdout
        searched = [r for r in server.requests if "kinase+yeast" in r]
        assert "FIRST_PDATE" in searched[-1]  # restricted to papers since the last run
        again = cli("update", "w", env=env)
        assert again.returncode == 0 and "0 new paper(s)" in again.stdout and "0 new flag(s)" in again.stdout
    ws = Workspace.open(home, "w")
    assert next(m for m in ws.papers() if m["id"] == f"doi:{earlier.doi}")["retracted"] is True
    exported = cli("export", "w", env=cli_env(home))
    assert exported.returncode == 0, exported.stderr
    report = (home / "w" / "report.md").read_text()
    assert "## What changed since" in report and "nothing new" in report  # the last update is rendered


def test_update_flags_a_new_correction_notice_once_and_the_report_shows_it(home, cli) -> None:
    paper = PmcPaper("PMC2100", "Kinase timing in fission yeast", year=2011, doi="10.1000/kf.2011", pmid="21000001",
                     full_text=False)
    with EuropePmcServer([paper]) as server:
        env = cli_env(home, **server.env(), AGENT_SCIENTIST_PAPER_SOURCES="europepmc")
        assert cli("init", "w").returncode == 0
        assert cli("papers", "read", f"doi:{paper.doi}", "--name", "w", env=env).returncode == 0
        quiet = cli("update", "w", env=env)
        assert quiet.returncode == 0 and "0 new flag(s)" in quiet.stdout, quiet.stdout + quiet.stderr
        paper.corrections += [("Erratum in", "40000001"), ("Comment in", "40000002")]  # a comment flags nothing
        done = cli("update", "w", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "1 new flag(s)" in done.stdout
        assert f"doi:{paper.doi} is now linked to a notice: corrected by pmid:40000001 (per Europe PMC)" in done.stdout
        add_step(Workspace.open(home, "w"), 1, final_answer=f"Kinases time the cycle [doi:{paper.doi}].")
        assert cli("export", "w", env=cli_env(home)).returncode == 0
        report = (home / "w" / "report.md").read_text()
        assert "is now linked to a notice: corrected by pmid:40000001" in report.split("## What changed since")[1]
        assert "**Notices: corrected by pmid:40000001.**" in report.split('id="ref-1"')[1].splitlines()[0]
        again = cli("update", "w", env=env)
        assert again.returncode == 0 and "0 new flag(s)" in again.stdout  # recorded: not flagged twice
    meta = next(m for m in Workspace.open(home, "w").papers() if m["id"] == f"doi:{paper.doi}")
    assert meta["notices"] == ["corrected by pmid:40000001"] and not meta.get("retracted")


def test_resume_update_gives_the_planner_the_new_papers(home, cli) -> None:
    with EuropePmcServer([YEAST]) as epmc:
        env = cli_env(home, **epmc.env(), AGENT_SCIENTIST_PAPER_SOURCES="europepmc")
        first = [code('print(search_papers("kinase yeast"))'), code('final_answer("Kinases matter.")')]
        with ChatServer(first) as chat:
            run = cli("research", "Do kinases matter?", "--name", "w", "--model", MODEL, "--worker-model", WORKER,
                      "--api-base", chat.url, "--quiet", env=env, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        epmc.papers.append(PmcPaper("PMC3000", "Kinase waves in yeast", year=2031, doi="10.1000/kw.2031"))
        with ChatServer([code('final_answer("Kinases matter, and waves too.")')]) as chat:
            resumed = cli("resume", "w", "--update", "--api-base", chat.url, "--quiet", env=env, timeout=300)
            planner = [r for r in chat.requests if r.get("model") != "worker"]
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    told = json.dumps(planner[0]["messages"])
    assert "doi:10.1000/kw.2031" in told and "from `update`" in told
    assert "## What changed since" in (home / "w" / "report.md").read_text()
