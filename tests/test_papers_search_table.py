"""`papers search` at 80 columns (issue 25, item 8): ids never wrapped, no next page past the end, warnings whole."""

from __future__ import annotations

import re

from conftest import cli_env


def test_search_at_80_columns_keeps_ids_whole_and_says_no_more(home, cli, tmp_path):
    from support.pdfs import make_plain

    for n, title in enumerate(("Dropout and calibration of small networks trained on noisy tabular data",
                               "Calibration under dropout: a long study of widgets, gadgets and their friends")):
        pdf = tmp_path / f"d{n}.pdf"
        pdf.write_bytes(make_plain("Text about dropout and calibration.", title=title))
        assert cli("papers", "add", str(pdf), "--name", "lib").returncode == 0
    result = cli("papers", "search", "dropout calibration", "--name", "lib", env=cli_env(home, COLUMNS="80"))
    assert result.returncode == 0, result.stderr
    ids = re.findall(r"local:[0-9a-f]+", result.stdout)
    assert len(ids) == 2 and all(len(i) == len("local:") + 8 for i in ids), result.stdout  # never cut or wrapped
    assert "Next page" not in result.stdout and "No more results." in result.stdout
    warning = " ".join(result.stderr.split())
    assert "connection to the arXiv API failed" in warning
    assert re.search(r"could not be reached \(.*127\.0\.0\.1.*\); showing the matching papers", warning), warning


def test_papers_list_ends_a_long_title_with_an_ellipsis_and_the_offline_note_is_whole(home, cli, tmp_path):
    from support.pdfs import make_plain, make_stamped_paper

    title = "A very long title about dropout and calibration in small networks trained on noisy tabular data sets"
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(make_plain("Text.", title=title))
    assert cli("papers", "add", str(pdf), "--name", "lib").returncode == 0
    listed = cli("papers", "list", "--name", "lib").stdout
    line = next(x for x in listed.splitlines() if x.startswith("local:"))
    assert line.endswith("…") and title[:60] in line and title not in line
    stamped = tmp_path / "1111.2011.pdf"
    stamped.write_bytes(make_stamped_paper())
    added = cli("papers", "add", str(stamped), "--name", "lib", env=cli_env(home, COLUMNS="400"))
    note = next(x for x in added.stdout.splitlines() if "arXiv unreachable" in x)
    tail = note.split("arXiv unreachable, metadata from the PDF: ", 1)[1]
    assert tail.count("(") + 1 == tail.count(")"), note  # the parenthesis is closed: nothing cut mid-way
