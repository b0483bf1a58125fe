"""Paper sources: one protocol (`base.Source`), one list (`registry`), one record shape (`works`).

Adding a source is one module with a `SOURCE` object and one line in registry.py; this package's own
import loads nothing, so `config` can check `paper_sources` against the registry cheaply.
"""
