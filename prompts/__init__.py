"""Prompts are data: the YAML templates, installed as the package agent_scientist.prompts.

The loader is agent_scientist.prompting (a module of the package, so type checkers see it).
"""
