"""民主测评 (docs/rules.md#evaluate): the kind and its parts (configuration, tally, paper, tables, form)."""

from __future__ import annotations

from .kind import ABSTAIN, INVALID, EvaluateKind

__all__ = ["ABSTAIN", "INVALID", "EvaluateKind"]
