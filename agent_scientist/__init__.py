"""agent-scientist: a command-line research scientist with resumable, grounded runs."""

import os as _os
from importlib import metadata as _metadata

# onnxruntime (the embedding model) sends usage telemetry to Microsoft from 1.29 on Linux; a research tool
# makes no network call it was not asked for. Must be set before onnxruntime initialises (it latches).
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

try:  # one source of truth for the version: pyproject.toml, through the installed package's metadata
    __version__ = _metadata.version("agent-scientist")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
