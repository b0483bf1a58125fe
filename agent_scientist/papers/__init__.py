"""Papers: the id grammar, sources (arXiv, Semantic Scholar, OpenAlex), PDF download and extraction, the
workspace cache, the text views the model sees, and the `search_papers` / `read_paper` tools.
"""
