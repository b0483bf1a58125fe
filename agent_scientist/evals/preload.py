"""Imported by the eval's fork server: the heavy modules every question needs, loaded once."""

from agent_scientist.evals.worker import preload

preload()
