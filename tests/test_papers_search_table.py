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
