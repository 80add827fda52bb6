"""ballot – anonymous one-time-code ballots for meetings."""

__version__ = "0.1.0"
