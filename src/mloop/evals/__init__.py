"""Evaluation suites and gates."""
