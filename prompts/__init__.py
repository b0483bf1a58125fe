"""Prompts are data: YAML templates for the planner and the memory agent, reviewed like code."""
