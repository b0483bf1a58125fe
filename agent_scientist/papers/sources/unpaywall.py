"""Unpaywall: where the best open-access copy of a DOI lives (`/v2/{doi}?email=`), for the read chain.

Not a search index (Unpaywall answers one DOI at a time), so not in the registry: reading.py asks it for a
PDF URL after Semantic Scholar and OpenAlex. Unpaywall requires an email (`contact_email`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from agent_scientist.config import Settings
from agent_scientist.papers import fetch
from agent_scientist.papers.sources.works import MAX_JSON, parse_json

WHAT = "Unpaywall"


@dataclass(frozen=True)
class Location:
    """The best open-access location: a PDF URL, or only a landing page (pdf_url "")."""

    pdf_url: str
    landing_url: str
    host: str  # publisher or repository


def best_location(settings: Settings, doi: str) -> Location | None:
    """Unpaywall's best open-access location of a DOI; None when it knows none (or does not know the DOI).
    Raises FetchError (rate limits, outages); ValueError when contact_email is not set."""
    if not settings.contact_email:
        raise ValueError("Unpaywall needs an email: set contact_email (AGENT_SCIENTIST_CONTACT_EMAIL)")
    url = f"{settings.unpaywall_api_url.rstrip('/')}/{quote(doi, safe='/')}"
    try:
        body = fetch.http_get(url, timeout=settings.http_timeout, max_bytes=MAX_JSON,
                              params={"email": settings.contact_email}, what=WHAT, clock="unpaywall", delay=0.1)
    except fetch.FetchError as exc:
        if exc.kind == "not_found":
            return None
        raise
    best = parse_json(body, WHAT).get("best_oa_location") or {}
    pdf, landing = best.get("url_for_pdf") or "", best.get("url_for_landing_page") or best.get("url") or ""
    if not (pdf or landing):
        return None
    return Location(pdf, landing, str(best.get("host_type") or ""))
