"""Answers that check themselves: claims, their evidence, and the review before an answer stands.

This package owns: splitting a final answer into claims (claims.py); checking each cited claim against
the text of the pages it cites, with the worker model's verdict and a quote the code itself must find
on those pages (check.py, prompts/reviewer.yaml); and the review-and-revise rounds the planner loop runs
through `ReviewCapability` (revise.py), which write the `review` records of steps.jsonl. Citations are
resolved by papers/citation_index.py; the records are read with agent_scientist/records.py; the report
renders them (report/evidence.py) without importing this package.
"""
