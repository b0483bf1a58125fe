"""agent-scientist: a command-line research scientist with resumable, grounded runs."""

__version__ = "0.1.0"
