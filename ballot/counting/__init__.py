"""Counting: pure functions from ballots and rules to results (exact int and Fraction).

Imports nothing of the project outside itself, so an auditor can read and rerun the count alone.
"""
