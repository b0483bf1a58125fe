"""Experiments: the `edit_file` editor, the `run_experiment` runner, and the sandbox they run in."""
