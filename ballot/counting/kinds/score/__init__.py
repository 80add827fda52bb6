"""评委打分 (docs/rules.md#score): the kind and its parts (configuration, tally, paper, tables, form)."""

from __future__ import annotations

from .kind import ScoreKind

__all__ = ["ScoreKind"]
