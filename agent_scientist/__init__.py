"""agent-scientist: a command-line research scientist with resumable, grounded runs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("agent-scientist")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
