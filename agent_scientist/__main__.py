"""`python -m agent_scientist` runs the CLI."""

from agent_scientist.cli import main

main()
