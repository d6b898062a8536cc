"""Flags whose behaviour checks live with their feature's tests (see tests/test_cli.py)."""

COVERED: tuple[str, ...] = ("--scenario",)  # tests/test_scenario_cli.py
