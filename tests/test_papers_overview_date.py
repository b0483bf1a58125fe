"""The paper overview has one date line (issue 25, item 7): `Date: 2012`, not also `Year: 2012`."""

from agent_scientist.papers.views import overview


def test_overview_prints_the_date_once():
    meta = {"id": "1111.2011v2", "title": "T", "authors": ["A B"], "published": "2012", "year": 2012,
            "venue": "PRB"}
    text = overview(meta, {"pages": ["p1"]}, 2000)
    assert "Date: 2012" in text and "Year:" not in text and "Venue: PRB" in text
    only_year = overview({**meta, "published": ""}, {"pages": ["p1"]}, 2000)
    assert "Date: 2012" in only_year and "Year:" not in only_year
    other = overview({**meta, "published": "2011-11-09"}, {"pages": ["p1"]}, 2000)
    assert "Date: 2011-11-09" in other and "Year: 2012" in other  # a different year is not dropped
