"""`agent-scientist serve`: the workspace home in a browser, every citation one click from its page.

Reads the home only; runs start from the page only with --allow-runs (web/runs.py)."""
