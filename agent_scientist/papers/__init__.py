"""Papers: the id grammar, sources (one protocol and a registry: arXiv, Semantic Scholar, OpenAlex), PDF
download and extraction, the workspace cache, the text views the model sees, and the paper tools.
"""
