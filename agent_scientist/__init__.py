"""agent-scientist: a command-line research scientist with resumable, grounded runs."""

from importlib import metadata as _metadata

try:  # one source of truth for the version: pyproject.toml, through the installed package's metadata
    __version__ = _metadata.version("agent-scientist")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
