"""Answers that check themselves: claims, their evidence, and the review before an answer stands.

This package owns: splitting a final answer into claims (claims.py); checking each cited claim against
the text of the pages it cites, with the worker model's verdict and a quote the code itself must find
on those pages (check.py, prompts/reviewer.yaml); the review records in steps.jsonl and the
review-and-revise rounds the planner loop runs through `ReviewCapability` (revise.py); and what the
report shows of it (evidence.py). Import the modules themselves: the report imports evidence.py and
records.py, which must not pull in the rest.
"""

