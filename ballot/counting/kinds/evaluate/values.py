"""The stored grade values that are not a scale's grades (shared by the tally and the paper rules)."""

from __future__ import annotations

ABSTAIN, UNKNOWN = "abstain", "unknown"
INVALID = "invalid"  # paper only: two grades marked for a subject, or over an 优秀 quota (docs/rules.md#evaluate)
