"""agent-scientist: a command-line research scientist with resumable, grounded runs."""

import os as _os

# onnxruntime (the embedding model) sends usage telemetry to Microsoft from 1.29 on Linux; a research tool
# makes no network call it was not asked for. Must be set before onnxruntime initialises (it latches).
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def __getattr__(name: str) -> str:
    """`__version__` on first use: importlib.metadata costs every command ~20 ms it rarely needs."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import metadata

    try:  # one source of truth for the version: pyproject.toml, through the installed package's metadata
        version = metadata.version("agent-scientist")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        version = "0+unknown"
    globals()["__version__"] = version
    return version
