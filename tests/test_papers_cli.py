"""`agent-scientist papers add/search/read/list` in real subprocesses, against a loopback arXiv."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import cli_env
from support import pdfs
from support.arxiv_server import ArxivServer


def test_papers_add_creates_the_workspace_and_keeps_going_past_bad_files(cli, home: Path, tmp_path: Path) -> None:
    good, other, bad = tmp_path / "good.pdf", tmp_path / "other.pdf", tmp_path / "bad.pdf"
    good.write_bytes(pdfs.make_paper(2))
    other.write_bytes(pdfs.make_plain("Plain notes about tundra lichens.", title="Lichen notes",
                                      author="Dana Scully and Fox Mulder"))
    bad.write_bytes(pdfs.make_encrypted())
    result = cli("papers", "add", "lib", str(good), str(bad), str(other), str(good), str(tmp_path / "nope.pdf"))
    assert result.returncode == 1, result.stderr
    assert "encrypted with a password" in result.stderr and "nope.pdf: no such file" in result.stderr
    assert "2 added, 1 already present, 2 failed" in result.stdout
    assert json.loads((home / "lib" / "workspace.json").read_text())["status"] == "created"
    listed = json.loads(cli("papers", "list", "lib", "--json").stdout)
    assert sorted(m["title"] for m in listed) == ["Lichen notes", pdfs.TITLE]
    lichen = next(m for m in listed if m["title"] == "Lichen notes")
    assert lichen["authors"] == ["Dana Scully", "Fox Mulder"] and lichen["source"] == "local"
    for name in ("meta.json", "pages.json", "paper.pdf"):
        assert (home / "lib" / "papers" / lichen["id"].replace(":", "_") / name).is_file()
    recalled = subprocess.run([sys.executable, "-c", (
        "import sys; from agent_scientist.config import load_settings; from agent_scientist.memory import "
        "open_memory; from agent_scientist.workspace import Workspace; "
        "s = load_settings(); m = open_memory(Workspace.open(s.home, 'lib'), s); "
        "print(m.search_passages('tundra lichens', 1)[0]['paper_id'])")],
        capture_output=True, text=True, env=cli_env(home))
    assert recalled.returncode == 0, recalled.stderr  # the passages are in the workspace's memory
    assert recalled.stdout.strip() == lichen["id"]
    again = cli("papers", "add", "lib", str(good))
    assert again.returncode == 0 and "0 added, 1 already present, 0 failed" in again.stdout
    page = cli("papers", "read", lichen["id"], "--page", "1", "--name", "lib")
    assert page.returncode == 0 and page.stdout.startswith(f"[{lichen['id']} p.1/1]\nPlain notes about tundra")


def test_search_and_read_without_a_workspace_use_the_shared_cache(cli, home: Path, arxiv: ArxivServer) -> None:
    env = cli_env(home, **arxiv.env())
    found = cli("papers", "search", "au:Smith", "--json", env=env)
    assert found.returncode == 0, found.stderr
    [hit] = json.loads(found.stdout)
    assert hit["id"] == "2402.00002v1" and hit["source"] == "arxiv"
    assert cli("papers", "search", "au:Smith", "--json", env=env).stdout == found.stdout
    assert arxiv.count("api") == 1  # the second search came from the cache
    assert list((home / ".papers-cache" / "papers" / ".search").glob("*.json"))
    table = cli("papers", "search", "quasars", "--sort", "submitted", "--max-results", "3", env=env)
    assert table.returncode == 0 and "2201.00025v1" in table.stdout and "--offset 3" in table.stdout
    assert "arXiv results 1-3 of 25. Next page" in table.stdout
    last = cli("papers", "search", "quasars", "--max-results", "10", "--offset", "20", env=env)
    assert "arXiv results 21-25 of 25. No more results." in last.stdout and "--offset 30" not in last.stdout
    page = cli("papers", "read", "arXiv:2402.00002", "--page", "2", env=env)
    assert page.returncode == 0 and page.stdout.startswith("[arXiv:2402.00002v1 p.2/4]")
    assert (home / ".papers-cache" / "papers" / "2402.00002v1" / "pages.json").is_file()
    assert cli("papers", "read", "2402.00002", "-q", "omega quasar", env=env).stdout.startswith(
        "[arXiv:2402.00002v1 passages for 'omega quasar']")
    assert arxiv.count("pdf") == 1
    assert not [p for p in home.iterdir() if (p / "workspace.json").exists()]  # no workspace was made


def test_read_into_a_named_workspace_and_errors(cli, home: Path, arxiv: ArxivServer) -> None:
    env = cli_env(home, **arxiv.env())
    assert cli("papers", "read", "2401.00001", "--name", "missing", env=env).returncode == 2
    subprocess.run([sys.executable, "-c", "from agent_scientist.workspace import Workspace; import sys; "
                    "Workspace.create(sys.argv[1], 'w2')", str(home)], check=True)
    overview = cli("papers", "read", "2401.00001", "--name", "w2", env=env)
    assert overview.returncode == 0 and overview.stdout.startswith("[arXiv:2401.00001v2 overview]")
    assert (home / "w2" / "papers" / "2401.00001v2" / "meta.json").is_file()
    bad = cli("papers", "read", "not-an-id", env=env)
    assert bad.returncode == 1 and "Malformed paper id 'not-an-id'" in bad.stderr
    out_of_range = cli("papers", "read", "2401.00001", "--page", "9", "--name", "w2", env=env)
    assert out_of_range.returncode == 1 and "out of range" in out_of_range.stderr
    arxiv.stop()
    offline = cli("papers", "search", "something new", env=env)
    assert offline.returncode == 1 and "arXiv search failed" in offline.stderr
    assert cli("papers", "read", "2401.00001", "--page", "1", "--name", "w2", env=env).returncode == 0


def test_cli_module_stays_light() -> None:
    code = ("import sys, agent_scientist.cli.papers; "
            "print(sorted(m for m in ('pymupdf', 'fitz', 'arxiv', 'requests', 'smolagents') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_papers_add_with_an_unusable_memory_adds_the_papers_and_says_why(cli, home: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(pdfs.make_paper(2))
    assert cli("init", "lib").returncode == 0
    memory = home / "lib" / "memory"
    memory.rmdir()
    memory.write_text("not a folder")
    added = cli("papers", "add", str(pdf), "--name", "lib")
    assert added.returncode == 0 and "1 added" in added.stdout, added.stderr
    assert "memory unavailable" in added.stderr and "indexed when the papers are read" in added.stderr


def test_read_query_in_a_workspace_with_memory_uses_its_passages(cli, home: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(pdfs.make_paper(4))
    added = cli("papers", "add", "lib", str(pdf))
    assert added.returncode == 0, added.stderr
    assert (home / "lib" / "memory" / "chroma.sqlite3").exists(), added.stderr  # add indexes the passages
    [meta] = json.loads(cli("papers", "list", "lib", "--json").stdout)
    query = "diagram of precision against scale"  # no word in common with the caption
    found = cli("papers", "read", meta["id"], "-q", query, "--name", "lib")
    assert found.returncode == 0, found.stderr
    assert f"[{meta['id']} passages for '{query}']\n(1) p.3: Figure 1: Accuracy" in found.stdout


def test_read_a_table_as_csv_and_a_figure_to_a_file(cli, home: Path, tmp_path: Path) -> None:
    from support import pdfs

    path = tmp_path / "visual.pdf"
    path.write_bytes(pdfs.make_visual_paper())
    added = cli("papers", "add", "vis", str(path))
    assert added.returncode == 0, added.stderr
    pid = added.stdout.split("added ")[1].split()[0]
    grid = cli("papers", "read", pid, "--table", "1", "--name", "vis")
    assert grid.returncode == 0 and "| Base | 3.30 | 0.07 | -1.5% |" in grid.stdout
    as_csv = cli("papers", "read", pid, "--table", "3", "--csv", "--name", "vis")
    assert as_csv.stdout.splitlines() == ["Model,Accuracy,", ",Top1,Top5", "Alpha,71.20,90.05", "Beta,-0.30,88.00"]
    out = tmp_path / "fig2.png"
    fig = cli("papers", "read", pid, "--figure", "2", "--output", str(out), "--name", "vis")
    assert fig.returncode == 0 and f"Figure 2 written to {out}" in fig.stdout
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert cli("papers", "read", pid, "--csv", "--name", "vis").returncode == 2
    missing = cli("papers", "read", pid, "--figure", "9", "--name", "vis")
    assert missing.returncode == 1 and "has no figure 9" in missing.stdout + missing.stderr
